"""Opening what a user or a script names: one volume from any path, or the series of a folder without importing.

``open_volume(progress, cancel, path, series=None)`` is the one way the command line
(``workstation register``), the experiments and the viewer turn a path into
a volume: an image file (NIfTI, NRRD, MetaImage, through ``image_io``) or a
DICOM folder or file holding one volume (or the series named).

``open_path`` is the window's "Open folder" job: it must list series quickly
and leave the library untouched. Folders go through ``scan.scan_folder``
(DICOMDIR aware, parallel for large trees); a single dropped file is read
directly. Files left out are summarised by reason, one line each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from workstation.dicom.assemble import SeriesPlan, assemble
from workstation.dicom.header import read_header
from workstation.dicom.load import Allocator, load_volumes
from workstation.dicom.scan import scan_folder, skip_reasons
from workstation.errors import Skipped, WorkstationError
from workstation.image_io import is_image_file, read_image
from workstation.jobs import CancelFlag, Progress
from workstation.labels import LabelMap, default_segment
from workstation.volume import Volume, same_grid


class OpenError(WorkstationError):
    """A path that does not hold the one volume asked for."""


def open_volume(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str], series: str | None = None,
                skipped: list[Skipped] | None = None, allocate: Allocator = np.empty) -> Volume:
    """The volume at ``path``: an image file, or the one volume of a DICOM folder or file (or of ``series``).

    Files left out of a DICOM volume go to ``skipped`` when given (the CLI lists them). ``allocate``: see
    ``workstation.dicom.load.Allocator`` (the command line's jobs pass ``volume.sitk_array``).
    """
    p = Path(path)
    if not p.exists():
        raise OpenError("no such file or folder", p)
    if is_image_file(p):
        return read_image(p)
    loaded = load_volumes(progress, cancel, p, series, allocate=allocate)
    if skipped is not None:
        skipped.extend(loaded.skipped)
    if len(loaded.volumes) > 1:
        raise OpenError(f"holds {len(loaded.volumes)} volumes; name one series", p)
    return loaded.volumes[0]


def open_labels(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str], image: Volume) -> LabelMap:
    """An integer image file (or DICOM) as a label map on ``image``'s grid: one segment per value above 0.

    The grids must be the same in LPS (shape, and every voxel centre within
    ``volume.GRID_TOLERANCE_MM``): a label map is never resampled silently.
    """
    p = Path(path)
    return label_map_on(open_volume(progress, cancel, p), image, p)


def label_map_on(volume: Volume, image: Volume, path: str | PathLike[str]) -> LabelMap:
    """An integer volume read from ``path`` as a label map on ``image``'s grid (see ``open_labels``)."""
    p = Path(path)
    array = volume.array
    if array.ndim != 3 or (array.dtype.kind not in "ui" and not np.array_equal(np.rint(array), array)):
        raise OpenError("not a label map (a 3D image of whole numbers)", p)
    if not same_grid(volume, image):
        raise OpenError("the label map lies on another grid than the image it is opened on", p)
    values = [int(v) for v in np.unique(array) if v > 0]
    if array.min() < 0 or (values and values[-1] > np.iinfo(np.uint16).max):
        raise OpenError("label values must lie within 0..65535", p)
    dtype = np.uint8 if not values or values[-1] <= 255 else np.uint16
    grid = Volume(np.ascontiguousarray(array.astype(dtype)), image.affine.copy(), volume.meta)
    return LabelMap(grid, [default_segment(v) for v in values])


@dataclass
class Opened:
    """The plans found under ``path`` and one line per kind of file left out."""

    path: str
    plans: list[SeriesPlan]
    notes: list[str] = field(default_factory=list)


def open_path(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str]) -> Opened:
    """Job: plan the volumes of a folder or of one file; ``DicomError`` for a file that is not DICOM."""
    p = Path(path)
    left_out: list[Skipped] = []
    if p.is_dir():
        scan = scan_folder(progress, cancel, p)
        headers = scan.headers
        notes = [f"{p}: {count} file(s) skipped: {reason}" for reason, count in scan.skipped_reasons().items()]
    else:
        headers = [read_header(p)]
        notes = []
    plans = assemble(headers, left_out)
    notes += [f"{p}: {count} image(s) left out: {reason}"
              for reason, count in skip_reasons(left_out).items()]
    return Opened(str(p), plans, notes)
