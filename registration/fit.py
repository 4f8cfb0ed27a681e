"""Fit a preset to the images it runs on, and refuse inputs no preset can register.

Presets are written for whole bodies: levels from 4 mm, an orientation search
at 8 mm, sampling as a fraction of the voxels. On a field of view of 40 mm a
4 mm level is ten voxels across, an 8 mm search level five, and a 1 %
sample a few hundred points: too few for a 32-bin joint histogram, and the
metric's optimum there says more about the noise than the anatomy. So no
level (nor search stage, nor body mask) may be coarser than the smallest
extent over ``MIN_VOXELS_ACROSS``, and every metric sees at least
``MIN_SAMPLES`` points (see ``RunContext.optimise_at``). Clamping is
idempotent: the fitted parameters, recorded with the result, replay the same
run.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from registration.parameters import LevelSettings, RegistrationParameters
from workstation.errors import RegistrationError
from workstation.volume import Volume

MIN_VOXELS_ACROSS = 16
"""Voxels a level must keep across the smaller image's smallest extent."""

MIN_SAMPLES = 3000
"""Metric sample points at least, whatever the sampling fraction (about three per joint-histogram bin of 32 x 32)."""

MIN_SLICES = 4
"""Voxels along every axis below which an image is a slice or a few, not a volume a 3D registration can use."""

MAX_LABELS = 32
"""Distinct integer values up to which an image is taken for a label map, not an image to register."""


def extent_mm(volume: Volume) -> np.ndarray:
    """Physical extent (mm) of the volume's grid along its i, j, k axes."""
    return np.asarray(volume.shape_ijk, dtype=np.float64) * volume.spacing


def coarsest_spacing_mm(fixed: Volume, moving: Volume) -> float:
    """The coarsest level spacing both images allow: their smallest extent over ``MIN_VOXELS_ACROSS``."""
    return float(min(extent_mm(fixed).min(), extent_mm(moving).min())) / MIN_VOXELS_ACROSS


def _fit_level(level: LevelSettings, limit: float) -> LevelSettings:
    if level.spacing_mm <= limit:
        return level
    return replace(level, spacing_mm=limit, smoothing_mm=min(level.smoothing_mm, limit),
                   step_mm=min(level.step_mm, limit))


def fit_to_images(params: RegistrationParameters, fixed: Volume, moving: Volume) -> RegistrationParameters:
    """A copy of ``params`` whose levels and search stages are no coarser than the images allow.

    A level coarser than the limit is moved to it (its step and smoothing no
    larger than the new spacing), not dropped, so the schedule of steps and
    iterations stays the preset's.
    """
    limit = coarsest_spacing_mm(fixed, moving)
    s = params.search
    search = replace(s, spacing_mm=min(s.spacing_mm, limit), step_mm=min(s.step_mm, limit),
                     refine_spacing_mm=min(s.refine_spacing_mm, limit), refine_step_mm=min(s.refine_step_mm, limit),
                     check_spacing_mm=min(s.check_spacing_mm, limit), check_step_mm=min(s.check_step_mm, limit))
    return replace(params, levels=[_fit_level(level, limit) for level in params.levels], search=search)


def check_volume(volume: Volume) -> None:
    """Refuse what a 3D intensity registration cannot use: time series, a few slices, a blank image, a label map."""
    if volume.array.ndim != 3:
        raise RegistrationError(f"registration needs a 3D volume, this one has shape {volume.array.shape}")
    thin = [n for n in volume.shape_ijk if n < MIN_SLICES]
    if thin:
        what = "a single slice" if min(thin) == 1 else f"only {min(thin)} slices"
        raise RegistrationError(f"{what}: registration needs a 3D volume at least {MIN_SLICES} voxels along each axis")
    labels = label_count(volume.array)
    if labels == 1:
        raise RegistrationError("a blank image (every voxel has one value): nothing to register")
    if labels is not None:
        raise RegistrationError(f"a label map ({labels} distinct values), not an image: register the image it was "
                                "drawn on and carry the labels with its transform")


def label_count(array: np.ndarray) -> int | None:
    """The number of distinct values if ``array`` holds at most ``MAX_LABELS`` integers, else None.

    A strided sample decides quickly for real images (thousands of values);
    only a candidate label map is counted in full.
    """
    flat = array.reshape(-1)
    for part in (flat[:: max(1, flat.size // 100_000)], flat):
        if np.issubdtype(part.dtype, np.floating) and not np.array_equal(part, np.round(part)):
            return None
        values = np.unique(part)
        if len(values) > MAX_LABELS:
            return None
    return len(values)


def check_mask(mask: Volume) -> None:
    """Refuse an empty mask: the metric would have nothing to sample."""
    if not np.any(mask.array):
        raise RegistrationError("the mask is empty: no voxel to sample the metric in")


def scanner_boxes_overlap(fixed: Volume, moving: Volume) -> bool:
    """Whether the two grids' LPS bounding boxes (voxel extents included) intersect where the scanner put them."""
    def box(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
        n = np.asarray(volume.shape_ijk, dtype=np.float64)
        corners = np.array([[i, j, k] for i in (-0.5, n[0] - 0.5) for j in (-0.5, n[1] - 0.5)
                            for k in (-0.5, n[2] - 0.5)])
        world = volume.index_to_world(corners)
        return world.min(axis=0), world.max(axis=0)

    (flo, fhi), (mlo, mhi) = box(fixed), box(moving)
    return bool(np.all(flo < mhi) and np.all(mlo < fhi))
