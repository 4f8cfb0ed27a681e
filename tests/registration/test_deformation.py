"""Deformation maps checked against transforms whose answer is known in closed form."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from registration import deformation
from workstation.volume import Volume


def volume(shape_kji: tuple[int, int, int] = (20, 24, 28), spacing: float = 2.0) -> Volume:
    return Volume.from_parts(np.zeros(shape_kji, np.float32), [spacing] * 3, [-20.0, -25.0, 10.0], np.eye(3))


def test_an_affine_map_has_its_determinant_everywhere_and_a_shift_its_length() -> None:
    grid = deformation.reference_grid(volume(), 4.0)
    assert grid.GetSize() == (14, 12, 10) and grid.GetSpacing() == (4.0, 4.0, 4.0)
    affine = sitk.AffineTransform(3)
    affine.SetMatrix([1.2, 0.1, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 1.1])
    jacobian = deformation.jacobian_determinant(affine, grid)
    assert np.allclose(jacobian.array, 1.2 * 0.9 * 1.1, atol=1e-5)
    shift = sitk.TranslationTransform(3, (3.0, 4.0, 12.0))
    assert np.allclose(deformation.displacement_magnitude(shift, grid).array, 13.0, atol=1e-5)
    assert deformation.folding(jacobian).folded == 0


def test_a_mirroring_map_is_counted_as_folded() -> None:
    grid = deformation.reference_grid(volume(), 4.0)
    mirror = sitk.AffineTransform(3)
    mirror.SetMatrix([-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    fold = deformation.folding(deformation.jacobian_determinant(mirror, grid))
    assert fold.folded == fold.voxels == 14 * 12 * 10 and fold.max_determinant < 0


def test_the_warped_grid_of_a_shift_is_the_straight_grid_moved() -> None:
    grid = deformation.reference_grid(volume(spacing=1.0), 1.0)
    straight = deformation.warped_grid(sitk.Transform(), grid, line_spacing_mm=10.0, line_width_mm=0.5)
    moved = deformation.warped_grid(sitk.TranslationTransform(3, (2.0, 0.0, 0.0)), grid, 10.0, 0.5)
    # x lines sit where the LPS x coordinate (of the moving point) is a multiple of 10 mm.
    x = grid.GetOrigin()[0] + np.arange(grid.GetSize()[0]) * grid.GetSpacing()[0]
    column_straight = straight.array[1, 1, :]
    assert set(x[column_straight == 1]) == {v for v in x if v % 10 == 0}
    assert set(x[moved.array[1, 1, :] == 1]) == {v for v in x if (v + 2) % 10 == 0}
