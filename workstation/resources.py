"""Where the data in ``resources/`` lives, in a source tree and in an installed program.

A wheel carries ``resources/`` inside the ``workstation`` package (so no
top-level package called ``resources`` lands in site-packages); a source
checkout and an editable install keep it beside ``workstation/``.
"""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "resources", here.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"resources folder not found beside {here}")


def resource(*parts: str) -> Path:
    """Path of a file under resources/, e.g. ``resource("presets", "ct-mr-rigid.json")``."""
    return resources_dir().joinpath(*parts)
