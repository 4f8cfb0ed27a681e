"""Threshold, region growing from a seed, and growing several segments at once from their seeds.

Region growing is SimpleITK's ConnectedThreshold with face connectivity (the
6 neighbours), so a segment does not leak through a voxel corner; seeds are
LPS points, as a click or the CLI gives them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from segmentation.filters import execute
from workstation.errors import WorkstationError
from workstation.jobs import CancelFlag, Progress
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


def region_grow(progress: Progress, cancel: CancelFlag | None, image: Volume | sitk.Image,
                grid: Volume, seed: np.ndarray | list[float], lower: float, upper: float) -> np.ndarray:
    """The voxels connected to ``seed`` through faces whose values lie in [lower, upper]; a job.

    ``image`` is the Volume (a loaded one goes to SimpleITK without a copy:
    ``Volume.to_sitk``), or a SimpleITK image of it; ``grid`` is the Volume
    whose geometry places the seed.
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
    grown = execute(grower, sitk_image, progress=progress, cancel=cancel, message="region growing")
    return array_of(grown).view(bool)  # uint8 0/1 (the replace value): the filter's own buffer, no copy


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
