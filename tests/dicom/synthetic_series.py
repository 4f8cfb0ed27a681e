"""Write small real DICOM series with pydicom, for assembly cases the shared data sets do not contain.

Each file is pydicom's CT_small.dcm (a real CT header) with its geometry and
pixels replaced. Pixel (j, i) of the image with instance number n holds
``n * 1000 + j * 16 + i``, so a test can tell which file landed in which slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

SIZE = 16


def pixels_of(instance: int, rows: int = SIZE, columns: int = SIZE) -> np.ndarray:
    j, i = np.mgrid[0:rows, 0:columns]
    return (instance * 1000 + j * 16 + i).astype(np.int16)


def write_series(folder: Path, positions: Sequence[Sequence[float]], *,
                 orientation: Sequence[float] = (1, 0, 0, 0, 1, 0), pixel_spacing: Sequence[float] = (0.5, 0.75),
                 slice_thickness: float = 9.0, series_uid: str | None = None, rows: int = SIZE, columns: int = SIZE,
                 instances: Sequence[int] | None = None,
                 edit: Callable[[Dataset, int], None] | None = None) -> list[Path]:
    """One file per position, named ``f{n:03}.dcm`` in a shuffled order; returns the paths in position order.

    ``edit(ds, n)`` may change the n-th dataset before it is written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series_uid = series_uid or generate_uid()
    instances = list(instances) if instances is not None else list(range(1, len(positions) + 1))
    names = np.random.default_rng(len(positions)).permutation(len(positions))
    paths = []
    for n, position in enumerate(positions):
        ds = template.copy()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series_uid
        ds.InstanceNumber = instances[n]
        ds.ImagePositionPatient = [float(v) for v in position]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = slice_thickness
        ds.SpacingBetweenSlices = slice_thickness
        ds.Rows, ds.Columns = rows, columns
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = pixels_of(instances[n], rows, columns).tobytes()
        if "DataSetTrailingPadding" in ds:
            del ds.DataSetTrailingPadding
        if edit is not None:
            edit(ds, n)
        path = folder / f"f{names[n]:03}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def axial(count: int, z0: float = -20.0, step: float = 2.5, x: float = -4.0, y: float = -6.0) -> list[list[float]]:
    return [[x, y, z0 + n * step] for n in range(count)]
