"""Desktop medical image workstation: DICOM library, MPR/3D viewer and registration."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__`` read from the installed metadata on first use, not at import.

    ``importlib.metadata`` costs ~40 ms, paid by every CLI call and worker
    process; most never ask for the version. The version lives only in
    pyproject.toml.
    """
    if name != "__version__":
        raise AttributeError(f"module 'workstation' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("workstation")
    except PackageNotFoundError:  # running from a source tree that was never installed
        value = "0.0.0"
    globals()["__version__"] = value
    return value
