"""Thick slabs (MIP, MinIP, mean) on the real cirs057a CT, checked against numpy over the same voxels.

A slab is resliced on the data grid and scaled to the screen pixels (see
``widgets.reslice_layer``), so each screen pixel must show the slab of the
voxel column under its LPS position: exactly that column when a screen pixel
covers a voxel (nearest), and a value between the columns around it when
zoomed in (linear). The expected values come from the stored array, indexed
through the volume's affine at the pixel's LPS point, and numpy's reduction
along the slices the slab spans.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.widgets.conftest import series
from workstation.viewer_model.display import Camera2D

pytestmark = pytest.mark.gui

REDUCE = {"mip": np.max, "minip": np.min, "mean": np.mean}


def slab_pixels(viewer, cirs_ct, mode: str, zoom: float, rng: np.random.Generator):
    """(shown values, pixels' continuous voxel indices (i, j), slab's first and last slice) for random pixels."""
    volume = series(cirs_ct)
    viewer.model.set_image(volume)
    viewer.model.set_slab(mode, 10.0)
    view = viewer.slice_view("axial")
    viewer.model.set_camera("axial", Camera2D(zoom))
    view.prepare_frame()
    rows, cols = view.footprint()
    ys = rng.integers(rows.start + 2, rows.stop - 2, 300)
    xs = rng.integers(cols.start + 2, cols.stop - 2, 300)
    ijk = volume.world_to_index(np.array([view.display_to_world(x, y) for x, y in zip(xs, ys, strict=True)]))
    k = np.rint(ijk[:, 2])
    assert np.allclose(ijk[:, 2], k, atol=1e-6), "the shown axial slice lies on a stored slice"
    half = view.layer.slab_slices() // 2
    assert half >= 2, "a 10 mm slab spans several CT slices"
    k0, k1 = int(k[0]) - half, int(k[0]) + half
    assert 0 <= k0 and k1 < volume.array.shape[0]
    return view.layer.values()[ys, xs].astype(np.float64), ijk[:, :2], (k0, k1), view, (xs, ys)


@pytest.mark.parametrize("mode", ["mip", "minip", "mean"])
def test_a_slab_pixel_is_the_numpy_reduction_of_the_voxels_under_it(viewer, cirs_ct, mode):
    volume = series(cirs_ct)
    shown, ij, (k0, k1), view, (xs, ys) = slab_pixels(viewer, cirs_ct, mode, 1.0, np.random.default_rng(7))
    assert view.mm_per_pixel() >= min(volume.spacing[:2]), "zoom 1 here: a screen pixel covers a voxel or more"
    off_ties = np.all(np.abs(ij - np.floor(ij) - 0.5) > 1e-3, axis=1)
    i, j = np.rint(ij[off_ties]).astype(int).T
    expected = REDUCE[mode](volume.array[k0:k1 + 1, j, i].astype(np.float64), axis=0)
    assert np.abs(shown[off_ties] - expected).max() <= (1.0 if mode == "mean" else 0.0)
    # and the screen shows it through the window (overlays off)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)
    window = viewer.model.window()
    grey = np.clip((expected - window.lower) / window.width, 0, 1) * 255
    rgb = view.capture()[ys[off_ties], xs[off_ties]].astype(np.float64)
    assert np.abs(rgb[:, 0] - grey).max() <= 1.5


def test_a_zoomed_in_mip_lies_between_the_mips_of_the_voxel_columns_around_each_pixel(viewer, cirs_ct):
    volume = series(cirs_ct)
    shown, ij, (k0, k1), view, _ = slab_pixels(viewer, cirs_ct, "mip", 4.0, np.random.default_rng(11))
    assert view.mm_per_pixel() < min(volume.spacing[:2]) / 2, "zoomed in: several screen pixels per voxel"
    lo, hi = np.floor(ij).astype(int), np.ceil(ij).astype(int)
    columns = [volume.array[k0:k1 + 1, j, i].max(axis=0) for i in (lo[:, 0], hi[:, 0]) for j in (lo[:, 1], hi[:, 1])]
    columns = np.array(columns, dtype=np.float64)
    assert np.all(shown >= columns.min(axis=0) - 1) and np.all(shown <= columns.max(axis=0) + 1)
    # not the nearest column alone: a zoomed-in linear view is smooth (a pixel between two voxels differs from both)
    i, j = np.rint(ij).astype(int).T
    nearest = volume.array[k0:k1 + 1, j, i].max(axis=0)
    assert np.mean(shown != nearest) > 0.2
