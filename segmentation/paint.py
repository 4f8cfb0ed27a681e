"""Paint and erase with a brush sized in millimetres: a sphere, or a disc in a view's plane.

The brush is placed in LPS and tested against voxel centres in LPS, so it is
round on anisotropic and oblique grids alike (a brush of 5 mm is 5 mm on a
0.65 x 0.65 x 2.5 mm CT, not 5 voxels).
"""

from __future__ import annotations

import numpy as np

from segmentation.edit import commit
from segmentation.history import EditHistory, Region
from workstation import geometry
from workstation.labels import LabelMap
from workstation.volume import Volume


def brush(grid: Volume, centre: np.ndarray | list[float], radius_mm: float,
          normal: np.ndarray | list[float] | None = None) -> tuple[Region, np.ndarray] | None:
    """The voxels a brush covers: (box, boolean mask in that box), or None when it misses the grid.

    Without ``normal`` the brush is a sphere of ``radius_mm``; with it, a disc
    of that radius in the plane through ``centre`` perpendicular to
    ``normal``, one voxel thick (the voxels the plane passes through).
    """
    centre = np.asarray(centre, dtype=np.float64)
    axes = grid.affine[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    reach = radius_mm / spacing + 1  # voxels along i, j, k that can hold a point within the radius (any direction)
    middle = grid.world_to_index(centre)
    shape_ijk = np.asarray(grid.shape_ijk)
    low = np.maximum(np.floor(middle - reach), 0).astype(int)
    high = np.minimum(np.ceil(middle + reach) + 1, shape_ijk).astype(int)
    if np.any(high <= low):
        return None
    ii, jj, kk = (np.arange(lo, hi) for lo, hi in zip(low, high, strict=True))
    index = np.stack(np.meshgrid(ii, jj, kk, indexing="ij"), axis=-1)  # (i, j, k, 3)
    offset = geometry.apply(grid.affine, index) - centre
    inside = np.einsum("...d,...d->...", offset, offset) <= radius_mm ** 2
    if normal is not None:
        n = np.asarray(normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        half_thickness = 0.5 * np.abs(axes.T @ n).sum()  # half a voxel's extent along the normal
        inside &= np.abs(offset @ n) < half_thickness
    mask = np.ascontiguousarray(inside.transpose(2, 1, 0))  # (k, j, i)
    if not mask.any():
        return None
    region = (slice(low[2], high[2]), slice(low[1], high[1]), slice(low[0], high[0]))
    return region, mask


def paint(labels: LabelMap, number: int, centre: np.ndarray | list[float], radius_mm: float,
          normal: np.ndarray | list[float] | None = None, history: EditHistory | None = None,
          overwrite: bool = False) -> None:
    """Paint segment ``number`` with the brush; other segments' voxels stay unless ``overwrite``."""
    stroke = brush(labels.volume, centre, radius_mm, normal)
    if stroke is None:
        return
    region, mask = stroke
    after = labels.array[region].copy()
    after[mask & ((after == 0) | overwrite)] = number
    commit(labels, "paint", region, after, history)


def erase(labels: LabelMap, centre: np.ndarray | list[float], radius_mm: float,
          normal: np.ndarray | list[float] | None = None, number: int | None = None,
          history: EditHistory | None = None) -> None:
    """Erase under the brush: segment ``number`` only, or every segment when it is None."""
    stroke = brush(labels.volume, centre, radius_mm, normal)
    if stroke is None:
        return
    region, mask = stroke
    after = labels.array[region].copy()
    after[mask & ((after == number) if number is not None else True)] = 0
    commit(labels, "erase", region, after, history)
