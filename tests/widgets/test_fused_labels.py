"""The moving image's labels drawn over the fused views under Xvfb, checked on rendered pixels.

The cirs MR is both the fixed and the moving image; a block of voxels of the
moving grid is labelled. Through a known fixed->moving transform (a 10 mm
translation, then one with a rotation as well) a screen pixel at fixed LPS x
must show the segment's fill exactly where the moving label map holds the
segment at the nearest voxel to T(x): computed here with numpy from the
affines, and with SimpleITK's Resample (nearest) of the label map onto the
fixed grid, never from the views' own code.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from tests.widgets.conftest import series
from tests.widgets.test_labels_layer import without_and_with
from widgets.fusion_layer import ViewerFusion, rotation_about
from workstation.labels import LabelMap, default_segment
from workstation.viewer_model import FusedLayer, LabelsLayer

pytestmark = pytest.mark.gui
BLOCK = (slice(150, 200), slice(90, 150), slice(120, 200))  # k, j, i of the labelled block on the moving grid


def shifted(shift) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = shift
    return m


@pytest.fixture
def fused_labels(viewer, cirs_mr):
    """The MR fixed, fused with itself (identity), its block labels on the moving side."""
    image = series(cirs_mr)
    viewer.model.set_image(image)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)
    viewer.model.set_interpolation(False)
    ViewerFusion(viewer)
    labels = LabelMap.empty_like(image, [default_segment(1, "block")])
    labels.array[BLOCK] = 1
    layer = LabelsLayer(labels)
    fused = FusedLayer(image)
    viewer.model.set_fused(fused)
    fused.set_labels(layer)
    return viewer, image, labels, layer, fused


def pixel_world(view, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """LPS of screen pixels (x, y) of a slice view: the view's own mapping of one pixel, extended linearly."""
    origin = np.asarray(view.display_to_world(0, 0))
    right = np.asarray(view.display_to_world(1, 0)) - origin
    down = np.asarray(view.display_to_world(0, 1)) - origin
    return origin + xs[..., None] * right + ys[..., None] * down


def label_near(array: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """The label at the nearest voxel of continuous indices (..., 3); -1 where a voxel next to it holds another
    (screen pixels there may round either way), 0 outside the grid."""
    near = np.rint(ijk).astype(int)
    size = np.array(array.shape[::-1])
    found = None
    for offset in np.ndindex(3, 3, 3):
        i, j, k = np.moveaxis(np.clip(near + np.array(offset) - 1, 0, size - 1), -1, 0)
        inside = np.all((near + np.array(offset) - 1 >= 0) & (near + np.array(offset) - 1 < size), axis=-1)
        values = np.where(inside, array[k, j, i], 0).astype(int)
        found = values if found is None else np.where(found == values, found, -1)
    return found


def check_pixels(view, label_at, segment, image_only: np.ndarray, shown: np.ndarray) -> dict:
    """Every 7th pixel: the fill blended over the image where ``label_at(lps)`` is the segment, the image alone
    where it is 0 (pixels within 2 of a change left out: the outline, and rounding either way); returns how many
    of each were checked."""
    h, w, _ = shown.shape
    ys, xs = np.mgrid[5:h - 5:7, 5:w - 5:7]
    around = np.stack([label_at(pixel_world(view, xs + dx, ys + dy)) for dx in (-2, 0, 2) for dy in (-2, 0, 2)])
    decided = np.all(around == around[0], axis=0) & (around[0] >= 0)
    label = around[0][decided]
    below = image_only[ys[decided], xs[decided]].astype(float)
    fill = segment.opacity * np.asarray(segment.colour, float) + (1 - segment.opacity) * below
    expected = np.where(label[:, None] == 1, fill, below)
    drawn = shown[ys[decided], xs[decided]].astype(float)
    wrong = np.flatnonzero(np.any(np.abs(drawn - expected) > 3, axis=1))
    assert not wrong.size, (view.name, len(wrong), xs[decided][wrong[:3]], ys[decided][wrong[:3]], drawn[wrong[:3]],
                            expected[wrong[:3]])
    return {1: int(np.sum(label == 1)), 0: int(np.sum(label == 0))}


@pytest.mark.parametrize("turn", [0.0, 10.0])
def test_a_moving_label_shows_at_the_fixed_point_the_transform_maps_onto_it(fused_labels, turn):
    viewer, image, labels, layer, fused = fused_labels
    block_centre = image.index_to_world([(s.start + s.stop - 1) / 2 for s in reversed(BLOCK)])
    # fixed -> moving: a point x of the fixed image reads the moving one at M @ x
    matrix = shifted([10.0, 0.0, 0.0])
    if turn:
        axis = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
        matrix = rotation_about(axis, turn, block_centre) @ matrix
    fused.set_matrix(matrix)  # after the labels: the drawn labels follow a transform update
    viewer.model.set_position((np.linalg.inv(matrix) @ [*block_centre, 1.0])[:3] + [3.3, -2.1, 1.7])
    to_moving_index = np.linalg.inv(labels.volume.affine) @ matrix  # fixed LPS -> moving (i, j, k)

    def moving_label(lps: np.ndarray) -> np.ndarray:
        return label_near(labels.array, lps @ to_moving_index[:3, :3].T + to_moving_index[:3, 3])

    segment = labels.segment(1)
    for name in ("axial", "coronal", "sagittal"):
        view = viewer.slice_view(name)
        checked = check_pixels(view, moving_label, segment, *without_and_with(view, layer))
        assert checked[1] > 30 and checked[0] > 30, (name, checked)


def test_the_drawn_labels_equal_simpleitk_resampling_them_nearest_onto_the_fixed_grid(fused_labels):
    viewer, image, labels, layer, fused = fused_labels
    centre = image.index_to_world([(s.start + s.stop - 1) / 2 for s in reversed(BLOCK)])
    matrix = rotation_about(np.array([1.0, 0.0, 0.0]), 8.0, centre) @ shifted([4.0, -10.0, 2.0])
    fused.set_matrix(matrix)
    transform = sitk.AffineTransform(3)
    transform.SetMatrix(matrix[:3, :3].ravel().tolist())
    transform.SetTranslation(matrix[:3, 3].tolist())
    fixed_grid = image.to_sitk()
    resampled = sitk.GetArrayFromImage(sitk.Resample(labels.volume.to_sitk(), fixed_grid, transform,
                                                     sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8))
    # on a fixed voxel's centre, the shown slice
    k = int(np.rint(image.world_to_index((np.linalg.inv(matrix) @ [*centre, 1.0])[:3])[2]))
    viewer.model.set_position(image.index_to_world([120.4, 100.6, k]))
    view = viewer.slice_view("axial")

    to_fixed_index = np.linalg.inv(image.affine)

    def fixed_label(lps: np.ndarray) -> np.ndarray:
        """SimpleITK's label at the nearest fixed voxel, -1 next to a change."""
        return label_near(resampled, lps @ to_fixed_index[:3, :3].T + to_fixed_index[:3, 3])

    segment = labels.segment(1)
    checked = check_pixels(view, fixed_label, segment, *without_and_with(view, layer))
    assert checked[1] > 30 and checked[0] > 30, checked


def test_labels_are_not_drawn_over_a_volume_on_another_grid(fused_labels):
    """A deformable result shows the moving image already resampled onto the fixed grid: the moving labels (on
    the moving grid) must not be drawn through its identity matrix, and come back with the moving image."""
    viewer, image, labels, layer, fused = fused_labels
    resampled = replace(image, affine=image.affine @ shifted([0.5, 0.0, 0.0]))  # half a voxel off the labels' grid
    viewer.model.set_fused(FusedLayer(resampled, np.eye(4), labels=layer))
    view = viewer.slice_view("axial")
    viewer.model.set_position(image.index_to_world([(s.start + s.stop - 1) / 2 for s in reversed(BLOCK)]))
    hidden, shown = without_and_with(view, layer)
    assert np.array_equal(hidden, shown)
    viewer.model.set_fused(FusedLayer(image, np.eye(4), labels=layer))
    hidden, shown = without_and_with(view, layer)
    assert not np.array_equal(hidden, shown)
