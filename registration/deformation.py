"""What a deformable result does to space: displacement, its magnitude, the Jacobian determinant, folding.

A reader of a deformable registration needs to see where it moved tissue and
whether it tore or folded it: the displacement magnitude shows how far each
point was carried, the Jacobian determinant how much a small volume grew
(> 1) or shrank (< 1), and a determinant at or below zero means the map
folded space there, which no anatomy does. Maps are computed on a grid the
caller chooses (typically the fixed image's, coarsened), as Volumes, so the
viewer can show them as overlays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from workstation.volume import Volume, VolumeMeta


def reference_grid(volume: Volume, spacing_mm: float) -> sitk.Image:
    """An empty image over ``volume``'s extent with about ``spacing_mm`` voxels (its direction kept)."""
    spacing = volume.spacing
    factors = np.maximum(1, np.round(spacing_mm / spacing)).astype(int)
    size = np.maximum(1, np.asarray(volume.shape_ijk) // factors)
    grid = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    grid.SetSpacing([float(s) for s in spacing * factors])
    origin = volume.origin + volume.direction @ ((factors - 1) / 2 * spacing)
    grid.SetOrigin([float(o) for o in origin])
    grid.SetDirection([float(d) for d in volume.direction.ravel()])
    return grid


def displacement_field(transform: sitk.Transform, grid: sitk.Image) -> sitk.Image:
    """The vector image ``T(x) - x`` (mm, LPS) at the voxel centres of ``grid``."""
    return sitk.TransformToDisplacementField(transform, sitk.sitkVectorFloat64, grid.GetSize(), grid.GetOrigin(),
                                             grid.GetSpacing(), grid.GetDirection())


def _volume(image: sitk.Image, description: str, units: str) -> Volume:
    return Volume.from_sitk(sitk.Cast(image, sitk.sitkFloat32), VolumeMeta(description=description, units=units))


def displacement_magnitude(transform: sitk.Transform, grid: sitk.Image) -> Volume:
    """How far (mm) each point of ``grid`` is carried by ``transform``."""
    return _volume(sitk.VectorMagnitude(displacement_field(transform, grid)), "displacement magnitude", "mm")


def jacobian_determinant(transform: sitk.Transform, grid: sitk.Image) -> Volume:
    """The local volume change of ``transform`` on ``grid`` (1: none; <= 0: folded).

    ITK leaves the outermost voxels of a Jacobian image at 0 (they lack a
    neighbour on one side), which would read as folding: the field is made
    one voxel larger all round and that border cut off again.
    """
    padded = sitk.Image([n + 2 for n in grid.GetSize()], sitk.sitkUInt8)
    padded.SetSpacing(grid.GetSpacing())
    padded.SetDirection(grid.GetDirection())
    padded.SetOrigin(grid.TransformIndexToPhysicalPoint([-1, -1, -1]))
    jacobian = sitk.DisplacementFieldJacobianDeterminant(displacement_field(transform, padded), True)
    return _volume(sitk.RegionOfInterest(jacobian, grid.GetSize(), [1, 1, 1]), "Jacobian determinant", "")


@dataclass
class Folding:
    """How much of a region a map folded: voxels with a Jacobian determinant <= 0, and the determinant's range."""

    folded: int
    voxels: int
    min_determinant: float
    max_determinant: float


def folding(jacobian: Volume, mask: np.ndarray | None = None) -> Folding:
    """Count folded voxels of a Jacobian-determinant map (within ``mask``, a bool array on its grid)."""
    values = np.asarray(jacobian.array) if mask is None else np.asarray(jacobian.array)[mask]
    return Folding(int(np.count_nonzero(values <= 0)), int(values.size), float(values.min()), float(values.max()))


def warped_grid(transform: sitk.Transform, grid: sitk.Image, line_spacing_mm: float = 10.0,
                line_width_mm: float | None = None) -> Volume:
    """Lines every ``line_spacing_mm`` of the moving space, drawn where they fall on the fixed ``grid`` (0 or 1).

    A point ``x`` of the fixed grid is on a line when one of the coordinates
    of ``T(x)`` lies within half a line width of a multiple of the spacing:
    straight lines where the map is rigid, bent ones where it deforms, which
    is how a reader sees at a glance where and how much a result warps.
    """
    width = float(line_width_mm if line_width_mm is not None else max(grid.GetSpacing()))
    field = sitk.GetArrayFromImage(displacement_field(transform, grid))  # (k, j, i, 3)
    size = grid.GetSize()
    k, j, i = np.meshgrid(*[np.arange(n) for n in reversed(size)], indexing="ij")
    a = np.asarray(grid.GetDirection()).reshape(3, 3) * np.asarray(grid.GetSpacing())[None, :]
    points = np.stack([i, j, k], axis=-1) @ a.T + np.asarray(grid.GetOrigin()) + field
    offset = np.abs((points + line_spacing_mm / 2) % line_spacing_mm - line_spacing_mm / 2)
    lines = np.any(offset <= width / 2, axis=-1).astype(np.uint8)
    image = sitk.GetImageFromArray(lines)
    image.CopyInformation(grid)
    return Volume.from_sitk(image, VolumeMeta(description="warped grid"))
