"""A view along the volume's axes shows its stored slices, gathered from the voxels without a reslice.

At zoom 1 a screen pixel covers a voxel or more, so with interpolation on
each pixel shows the voxel nearest its LPS point (the data-grid slice scaled
by nearest index, see ``widgets.reslice_layer``). When that grid is the
voxel centres of one stored slice the view gathers the pixels straight from
the voxel array; checked here against the stored array indexed through the
volume's affine, on the cirs CT in its three planes and on random voxels
whose axes are turned against the patient's (so the gather runs backwards
along a voxel axis, or down the voxel rows for the screen's columns).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.widgets.conftest import series
from tests.widgets.volumes import box_phantom
from workstation import geometry
from workstation.viewer_model.display import VIEW_NAMES, Camera2D

pytestmark = pytest.mark.gui


def check_pixels_show_their_voxels(viewer, name: str, rng: np.random.Generator) -> None:
    volume = viewer.model.volume()
    view = viewer.slice_view(name)
    view.prepare_frame()
    assert view.layer._stored_slice() is not None, f"{name}: the stored-slice gather draws this view"
    assert view.mm_per_pixel() >= min(volume.spacing) * (1 - 1e-9), "zoom 1: a screen pixel covers a voxel or more"
    rows, cols = view.footprint()
    ys = rng.integers(rows.start, rows.stop, 1000)
    xs = rng.integers(cols.start, cols.stop, 1000)
    ijk = volume.world_to_index(np.array([view.display_to_world(x, y) for x, y in zip(xs, ys, strict=True)]))
    in_plane = [a for a in range(3) if np.ptp(ijk[:, a]) > 1e-6]
    depth = 3 - sum(in_plane)
    assert len(in_plane) == 2 and np.allclose(ijk[:, depth], np.rint(ijk[:, depth]), atol=1e-6), "a stored slice"
    off_ties = np.all(np.abs(ijk[:, in_plane] - np.floor(ijk[:, in_plane]) - 0.5) > 1e-3, axis=1)
    inside = np.all((np.rint(ijk) >= 0) & (np.rint(ijk) <= np.array(volume.shape_ijk) - 1), axis=1)
    keep = off_ties & inside
    assert keep.sum() > 300
    i, j, k = np.rint(ijk[keep]).astype(int).T
    assert np.array_equal(view.layer.values()[ys[keep], xs[keep]], volume.array[k, j, i]), name


def test_every_plane_of_the_cirs_ct_at_several_depths(viewer, cirs_ct):
    volume = series(cirs_ct)
    viewer.model.set_image(volume)
    rng = np.random.default_rng(5)
    for steps in (-60, 0, 25):
        for name in VIEW_NAMES:
            viewer.model.set_position(viewer.slice_view(name).stack.snapped(volume.center(), steps))
            viewer.flush()
            check_pixels_show_their_voxels(viewer, name, rng)


@pytest.mark.parametrize("turn", [("z", 90), ("z", 180), ("x", 90), ("y", -90)])
def test_random_voxels_on_grids_turned_against_the_patient(viewer, turn):
    """Every voxel differs from its neighbours, and the voxel axes run backwards or across the screen's."""
    axis, degrees = turn
    direction = geometry.rotation_matrix({"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}[axis], degrees)
    volume = box_phantom(direction=np.rint(direction))
    volume.array[...] = np.random.default_rng(3).integers(-1000, 3000, volume.array.shape)
    viewer.model.set_image(volume)
    rng = np.random.default_rng(9)
    for name in VIEW_NAMES:
        viewer.model.set_camera(name, Camera2D(0.1))  # a screen pixel covers more than a voxel
        viewer.flush()
        check_pixels_show_their_voxels(viewer, name, rng)


def test_a_turned_view_is_resliced(viewer, cirs_ct):
    """Oblique planes cross the voxels between their centres: the reslice interpolates them (no stored slice)."""
    viewer.model.set_image(series(cirs_ct))
    viewer.model.rotate_crosshair("axial", 20.0)
    viewer.flush()
    coronal = viewer.slice_view("coronal")
    coronal.prepare_frame()
    assert coronal.layer._stored_slice() is None
