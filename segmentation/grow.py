"""Threshold, region growing from a seed, and growing several segments at once from their seeds.

Region growing is SimpleITK's ConnectedThreshold with face connectivity (the
6 neighbours), so a segment does not leak through a voxel corner, switching
to a connected-component search for large regions; seeds are LPS points, as
a click or the CLI gives them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from segmentation.components import face_components
from segmentation.filters import execute
from workstation.errors import Cancelled, WorkstationError
from workstation.jobs import CancelFlag, Progress, scaled_progress
from workstation.labels import LabelMap
from workstation.volume import Volume, array_of


class SegmentationError(WorkstationError):
    """A segmentation tool cannot run with what it was given (seed outside, empty seeds, other grid)."""


def threshold(image: Volume, lower: float, upper: float) -> np.ndarray:
    """Voxels with ``lower <= value <= upper`` (boolean, on the image's grid; its first time point for 4D)."""
    array = image.array[0] if image.array.ndim == 4 else image.array
    return (array >= lower) & (array <= upper)


def seed_index(image: Volume, seed: np.ndarray | list[float]) -> tuple[int, int, int]:
    """The (i, j, k) voxel nearest an LPS seed; SegmentationError outside the grid."""
    ijk = np.rint(image.world_to_index(seed)).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.asarray(image.shape_ijk)):
        raise SegmentationError(f"the seed {', '.join(f'{v:g}' for v in seed)} mm lies outside the image")
    return int(ijk[0]), int(ijk[1]), int(ijk[2])


LARGE_REGION = 0.02
"""Share of the image ConnectedThreshold may fill before it is stopped for the other way to the same voxels.

ConnectedThreshold is a flood fill at about 0.6 us a voxel: a small region
takes it 0.2 s, the body of the CIRS CT (16M voxels) 10 s, a whole CT 47 s.
The seed's face-connected component of the thresholded image is the same
set of voxels and costs about 1.5 s for a CT whatever the region's size;
so once the fill has passed this share (ITK reports every 1 %), it is
stopped and the component found instead.
"""


class _Either:
    """A cancel flag that is set by the user's cancel or by the region turning out large."""

    def __init__(self, cancel: CancelFlag | None) -> None:
        self.cancel = cancel
        self.large = False

    def is_set(self) -> bool:
        return self.large or (self.cancel is not None and self.cancel.is_set())


def region_grow(progress: Progress, cancel: CancelFlag | None, image: Volume | sitk.Image,
                grid: Volume, seed: np.ndarray | list[float], lower: float, upper: float) -> np.ndarray:
    """The voxels connected to ``seed`` through faces whose values lie in [lower, upper]; a job.

    ``image`` is the Volume (a loaded one goes to SimpleITK without a copy:
    ``Volume.to_sitk``), or a SimpleITK image of it; ``grid`` is the Volume
    whose geometry places the seed. A large region is found as a connected
    component instead (``LARGE_REGION``).
    """
    index = seed_index(grid, seed)
    sitk_image = image if isinstance(image, sitk.Image) else image.to_sitk(0 if image.array.ndim == 4 else None)
    value = sitk_image[index]
    if not lower <= value <= upper:
        raise SegmentationError(f"the value at the seed ({value:g}) is outside the range {lower:g} to {upper:g}")
    grower = sitk.ConnectedThresholdImageFilter()
    grower.SetSeedList([index])
    grower.SetLower(float(lower))
    grower.SetUpper(float(upper))
    grower.SetReplaceValue(1)
    grower.SetConnectivity(sitk.ConnectedThresholdImageFilter.FaceConnectivity)
    stop = _Either(cancel)

    def watch(fraction: float, message: str) -> None:
        stop.large = stop.large or LARGE_REGION <= fraction < 1.0  # ITK's closing 100 % comes after the fill
        progress(fraction, message)

    try:
        grown = execute(grower, sitk_image, progress=watch, cancel=stop, message="region growing")
    except Cancelled:
        if not stop.large:
            raise
        return _component_at(scaled_progress(progress, LARGE_REGION, 1.0), cancel, sitk_image, index, lower, upper)
    return array_of(grown).view(bool)  # uint8 0/1 (the replace value): the filter's own buffer, no copy


def _component_at(progress: Progress, cancel: CancelFlag | None, image: sitk.Image, index: tuple[int, int, int],
                  lower: float, upper: float) -> np.ndarray:
    """The face-connected component holding ``index`` of the voxels with values in [lower, upper]."""
    inside = sitk.BinaryThresholdImageFilter()
    inside.SetLowerThreshold(float(lower))
    inside.SetUpperThreshold(float(upper))
    inside.SetInsideValue(1)
    inside.SetOutsideValue(0)
    mask = execute(inside, image, progress=scaled_progress(progress, 0.0, 0.2), cancel=cancel,
                   message="region growing (threshold)")
    numbers = face_components(sitk.GetArrayViewFromImage(mask), scaled_progress(progress, 0.2, 1.0), cancel,
                              "region growing (components)")  # faces only, as ConnectedThreshold's FaceConnectivity
    i, j, k = index
    return numbers == numbers[k, j, i]


def grow_from_seeds(progress: Progress, cancel: CancelFlag | None, image: Volume, seeds: LabelMap,
                    sigma_mm: float = 1.0, within: np.ndarray | None = None) -> np.ndarray:
    """Every voxel given to the segment whose seed it reaches first across the image's edges; a job.

    ``seeds`` holds strokes of two or more segments (background counts as a
    segment if painted as one). Marker-based watershed on the gradient
    magnitude: flooding from all seeds at once, the segments meet where the
    image changes most. ``within`` (boolean) limits where they may grow.
    Returns the new label array (seed values kept).
    """
    numbers = np.unique(seeds.array)
    if np.count_nonzero(numbers) < 2:
        raise SegmentationError("grow from seeds needs strokes of at least two segments")
    sitk_image = sitk.Cast(image.to_sitk(0 if image.array.ndim == 4 else None), sitk.sitkFloat32)
    edges = sitk.GradientMagnitudeRecursiveGaussianImageFilter()
    edges.SetSigma(sigma_mm)  # in mm: SimpleITK uses the image spacing
    gradient = execute(edges, sitk_image,
                       progress=lambda f, m: progress(0.3 * f, m), cancel=cancel, message="edges")
    markers = seeds.volume.place(sitk.GetImageFromArray(seeds.array.astype(np.uint16)))
    flood = sitk.MorphologicalWatershedFromMarkersImageFilter()
    flood.SetMarkWatershedLine(False)
    flood.SetFullyConnected(False)
    grown = execute(flood, gradient, markers, progress=lambda f, m: progress(0.3 + 0.7 * f, m), cancel=cancel,
                    message="growing from seeds")
    result = sitk.GetArrayFromImage(grown).astype(seeds.array.dtype)
    if within is not None:
        result[~within] = seeds.array[~within]
    return result
