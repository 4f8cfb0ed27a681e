"""Fill between slices, smoothing and hole filling: 3D operations on one segment, as jobs.

Fill between slices is shape-based interpolation (Raya and Udupa): draw a
structure on every few slices, and the slices between are filled by
morphing one outline into the next.
Sizes are in millimetres and turned into voxel radii per axis.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from segmentation.edit import set_segment
from segmentation.filters import on_segment, pasted
from segmentation.history import EditHistory
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap

SMOOTHING = ("median", "opening", "closing")


def radius_voxels(labels: LabelMap, radius_mm: float) -> list[int]:
    """A radius in mm as whole voxels along i, j, k (at least 1 along each axis)."""
    return [max(1, int(round(radius_mm / s))) for s in labels.volume.spacing]


def fill_between_slices(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int,
                        axis: int = 0, history: EditHistory | None = None) -> None:
    """Fill segment ``number`` on the empty slices between drawn ones along array ``axis`` (0 = k); a job.

    Shape-based interpolation: each drawn slice becomes a signed distance
    map (mm, negative inside); a slice between two drawn ones is where the
    distance, interpolated linearly between them, is negative or zero.
    """
    mask = labels.mask(number)
    moved = np.moveaxis(mask, axis, 0)
    drawn = np.flatnonzero(moved.any(axis=(1, 2)))
    spacing = np.delete(labels.volume.spacing[::-1], axis)[::-1]  # in-plane (column, row) spacing
    filled = moved.copy()
    pairs = [(a, b) for a, b in zip(drawn[:-1], drawn[1:], strict=True) if b > a + 1]
    for n, (a, b) in enumerate(pairs):
        check_cancel(cancel)
        progress(n / len(pairs), "filling between slices")
        low, high = _signed_distance(moved[a], spacing), _signed_distance(moved[b], spacing)
        for k in range(a + 1, b):
            t = (k - a) / (b - a)
            filled[k] = (1 - t) * low + t * high <= 0
    set_segment(labels, number, np.moveaxis(filled, 0, axis), "fill between slices", history)


def _signed_distance(section: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Signed distance (mm) to a 2D mask's edge: negative inside."""
    image = sitk.GetImageFromArray(section.astype(np.uint8))
    image.SetSpacing([float(v) for v in spacing])
    return sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(image, insideIsPositive=False, squaredDistance=False,
                                                               useImageSpacing=True))


def smooth(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int, radius_mm: float,
           method: str = "median", history: EditHistory | None = None) -> None:
    """Smooth segment ``number``: median (both ways), opening (cuts spurs) or closing (fills notches); a job."""
    if method not in SMOOTHING:
        raise ValueError(f"unknown smoothing {method!r}; use one of {', '.join(SMOOTHING)}")
    image_filter = {"median": sitk.BinaryMedianImageFilter, "opening": sitk.BinaryMorphologicalOpeningImageFilter,
                    "closing": sitk.BinaryMorphologicalClosingImageFilter}[method]()
    if method == "median":
        image_filter.SetRadius(radius_voxels(labels, radius_mm))
    else:
        image_filter.SetKernelRadius(radius_voxels(labels, radius_mm))
        image_filter.SetForegroundValue(1)
    reach = [2 * r + 1 for r in radius_voxels(labels, radius_mm)[::-1]]  # a closing dilates, then erodes: 2 radii
    region, smoothed = on_segment(progress, cancel, image_filter, labels, number, reach, f"smoothing ({method})")
    set_segment(labels, number, pasted(labels.array.shape, region, smoothed != 0), f"smooth ({method})", history)


def fill_holes(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, number: int,
               history: EditHistory | None = None) -> None:
    """Fill the cavities of segment ``number`` that no face-connected path joins to the outside; a job."""
    filler = sitk.BinaryFillholeImageFilter()
    filler.SetFullyConnected(False)
    filler.SetForegroundValue(1)
    region, filled = on_segment(progress, cancel, filler, labels, number, (1, 1, 1), "filling holes")  # 1: outside
    set_segment(labels, number, pasted(labels.array.shape, region, filled != 0), "fill holes", history)
