"""Synthetic grids with exact geometry for segmentation tests: oblique, anisotropic, known shapes."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from workstation.labels import LabelMap, default_segment
from workstation.volume import Volume, VolumeMeta


def oblique_grid(shape_kji: tuple[int, int, int] = (40, 60, 50), spacing: tuple[float, float, float] = (0.8, 0.7, 1.3),
                 angle: float = 0.3) -> Volume:
    """A float32 CT-like volume (all -1000 HU) on an anisotropic grid turned about two axes."""
    c, s = np.cos(angle), np.sin(angle)
    rot_z = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    rot_x = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    direction = rot_z @ rot_x
    array = np.full(shape_kji, -1000.0, dtype=np.float32)
    return Volume.from_parts(array, spacing, (-20.0, 15.0, -30.0), direction, VolumeMeta(modality="CT", units="HU"))


def voxel_centres(grid: Volume) -> np.ndarray:
    """LPS centre of every voxel, (k, j, i, 3), from SimpleITK's PhysicalPointImageSource (not our affine code)."""
    spacing, origin, direction = grid.geometry_parts()
    source = sitk.PhysicalPointImageSource()
    source.SetSize([int(n) for n in grid.shape_ijk])
    source.SetSpacing([float(v) for v in spacing])
    source.SetOrigin([float(v) for v in origin])
    source.SetDirection([float(v) for v in direction.ravel()])
    source.SetOutputPixelType(sitk.sitkVectorFloat64)
    return sitk.GetArrayFromImage(source.Execute())


def ball(grid: Volume, centre: np.ndarray | list[float], radius: float) -> np.ndarray:
    """Voxels whose centres lie within ``radius`` mm of ``centre`` (LPS), from SimpleITK's voxel positions."""
    offset = voxel_centres(grid) - np.asarray(centre, dtype=np.float64)
    return np.sqrt((offset ** 2).sum(axis=-1)) <= radius


def labels_on(grid: Volume, *numbers: int) -> LabelMap:
    return LabelMap.empty_like(grid, [default_segment(n) for n in numbers])


class CancelAfter:
    """A cancel flag that turns on after it has been asked ``n`` times (set from inside the job's own progress)."""

    def __init__(self, n: int) -> None:
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


class CancelAt:
    """A job's progress sink and cancel flag in one: the flag turns on when progress reaches ``fraction``.

    ``asked_while_set`` counts the times the job looked at the flag once it
    was on: a filter that stops at its next progress step looks a few times,
    one that runs on looks at every step to its end.
    """

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.seen: list[float] = []
        self.on = False
        self.asked_while_set = 0

    def progress(self, fraction: float, message: str) -> None:
        self.seen.append(fraction)
        self.on = self.on or fraction >= self.fraction

    def is_set(self) -> bool:
        self.asked_while_set += self.on
        return self.on
