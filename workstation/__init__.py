"""Desktop medical image workstation: DICOM library, MPR/3D viewer and registration."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("workstation")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
