"""Per-segment statistics: size, volume, intensity (HU or MR values) and surface area.

Volume is the voxel count times the voxel volume (from the affine, so it is
right for sheared grids too). Surface area is ITK's estimate of the boundary
(LabelShapeStatistics' perimeter, a Crofton-style measure), which is close to
the smooth surface; counting voxel faces would overstate it by about half.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from segmentation.filters import execute
from segmentation.grow import SegmentationError
from segmentation.history import bounding_box
from workstation.atomic import atomic_output
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap
from workstation.volume import Volume


@dataclass
class SegmentStatistics:
    """One segment's figures; intensity fields are None without an image or for an empty segment."""

    number: int
    label: str
    voxels: int
    volume_ml: float
    surface_mm2: float
    mean: float | None = None
    sd: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    median: float | None = None
    units: str = ""


def same_grid(labels: LabelMap, image: Volume) -> bool:
    return image.array.shape[-3:] == labels.array.shape and np.allclose(image.affine, labels.volume.affine,
                                                                         atol=1e-4)


def segment_statistics(progress: Progress, cancel: CancelFlag | None, labels: LabelMap,
                       image: Volume | None = None) -> list[SegmentStatistics]:
    """The statistics of every segment of ``labels`` (intensities from ``image``, on the same grid); a job."""
    if image is not None and not same_grid(labels, image):
        raise SegmentationError("the image and the label map are not on the same grid")
    voxel_ml = abs(float(np.linalg.det(labels.volume.affine[:3, :3]))) / 1000.0
    box = _padded_box(labels.array)
    crop = labels.array[box]
    origin = labels.volume.index_to_world([box[2].start, box[1].start, box[0].start])
    spacing, _, direction = labels.volume.geometry_parts()
    shape = sitk.LabelShapeStatisticsImageFilter()
    shape.SetComputePerimeter(True)
    execute(shape, Volume.from_parts(np.ascontiguousarray(crop), spacing, origin, direction).to_sitk(),
            progress=lambda f, m: progress(0.5 * f, m), cancel=cancel, message="segment surfaces")
    present = set(shape.GetLabels())
    values = None if image is None else (image.array[0] if image.array.ndim == 4 else image.array)[box]
    out = []
    for n, segment in enumerate(labels.segments):
        check_cancel(cancel)
        progress(0.5 + 0.5 * n / max(1, len(labels.segments)), f"statistics of {segment.label}")
        inside = crop == segment.number
        count = int(np.count_nonzero(inside))
        stats = SegmentStatistics(segment.number, segment.label, count, count * voxel_ml,
                                  float(shape.GetPerimeter(segment.number)) if segment.number in present else 0.0,
                                  units=image.meta.units if image is not None else "")
        if values is not None and count:
            v = values[inside].astype(np.float64)
            stats.mean, stats.minimum, stats.maximum = float(v.mean()), float(v.min()), float(v.max())
            stats.sd = float(v.std(ddof=1)) if count > 1 else 0.0
            stats.median = float(np.median(v))
        out.append(stats)
    progress(1.0, "statistics done")
    return out


def _padded_box(array: np.ndarray) -> tuple[slice, slice, slice]:
    """The box holding every labelled voxel with one voxel to spare (so edges are measured), or the whole grid."""
    box = bounding_box(array != 0)
    if box is None:
        return (slice(0, 1),) * 3
    return tuple(slice(max(b.start - 1, 0), min(b.stop + 1, n)) for b, n in zip(box, array.shape, strict=True))


def write_csv(statistics: list[SegmentStatistics], path: Path) -> None:
    """The statistics table as CSV, one row per segment (written whole or not at all)."""
    with atomic_output(path, "statistics") as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, [f.name for f in fields(SegmentStatistics)])
        writer.writeheader()
        for row in statistics:
            writer.writerow(asdict(row))
