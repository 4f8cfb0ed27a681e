"""A small greyscale picture of a series for the browser, from one of its images.

Why apart from the volume loader: a thumbnail needs one image, not the
series, and must be cheap enough to make for every series in the library
in the background. The window comes from the image's own 2nd-98th
percentiles, which suits any modality without presets.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from workstation.dicom import jpeg12
from workstation.errors import DicomError
from workstation.jobs import CancelFlag, Progress, check_cancel

SIZE = 48


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """Shrink by block means to at most ``size`` pixels a side; edge rows/columns short of a block are dropped."""
    rows, columns = image.shape
    step = max(1, int(np.ceil(max(rows, columns) / size)))
    r, c = rows // step * step, columns // step * step
    if step == 1 or r == 0 or c == 0:
        return image
    return image[:r, :c].reshape(r // step, step, c // step, step).mean(axis=(1, 3))


def to_grey8(values: np.ndarray) -> np.ndarray:
    """Window a 2D array to uint8 between its 2nd and 98th percentiles."""
    lo, hi = np.percentile(values, [2, 98])
    if hi <= lo:
        hi = lo + 1.0
    return (np.clip((values - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_thumbnail(path: str | PathLike[str], size: int = SIZE) -> np.ndarray:
    """(rows, columns) uint8 of the middle frame of one DICOM image, at most ``size`` pixels a side."""
    import pydicom  # deferred: faster start-up
    from pydicom.pixels import apply_modality_lut
    p = Path(path)
    jpeg12.register()
    try:
        ds = pydicom.dcmread(p)
        pixels = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 - any decoder failure is one line about this file
        raise DicomError(f"cannot make a thumbnail ({type(exc).__name__}: {exc})", p) from exc
    photometric = str(ds.get("PhotometricInterpretation", ""))
    colour = int(ds.get("SamplesPerPixel", 1) or 1) > 1
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        pixels = pixels[frames // 2]
    values = pixels.astype(np.float32).mean(axis=-1) if colour else apply_modality_lut(pixels, ds).astype(np.float32)
    grey = to_grey8(_fit(values, size))
    return 255 - grey if photometric == "MONOCHROME1" else grey


def series_thumbnail(progress: Progress, cancel: CancelFlag | None, files: list[str]) -> np.ndarray:
    """Job: the thumbnail of a series from its middle file (``files`` in slice order)."""
    check_cancel(cancel)
    if not files:
        raise DicomError("a series without images has no thumbnail")
    thumb = image_thumbnail(files[len(files) // 2])
    progress(1.0, "thumbnail made")
    return thumb
