"""Fusion in the MPR views under Xvfb: blend, overlay, checkerboard, difference, swap, transforms and nudges,
checked on rendered pixels of real views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.widgets.volumes import box_phantom
from widgets.fusion import FusionSettings, checker_mask
from widgets.fusion_layer import ViewerFusion
from workstation.viewer_model import FusedLayer, LandmarksLayer
from workstation.viewer_model.display import AUTO_PRESET, Window, preset_window
from workstation.volume import Volume, WindowPreset

WINDOW = (500.0, 1000.0)  # 0 -> black, 1000 -> white
SAME = Window(*WINDOW)  # the moving window (a uniform volume has no automatic one)


def uniform(value: int, like: Volume) -> Volume:
    """A volume of one value on ``like``'s exact grid."""
    return Volume(np.full(like.array.shape, value, dtype=np.int16), like.affine.copy(), like.meta)


class Fusion:
    """What the tests do to the fused layer, through the viewer model; ``widget`` draws it and takes input."""

    def __init__(self, viewer) -> None:
        self.model = viewer.model
        self.widget = ViewerFusion(viewer)

    def set_moving(self, volume: Volume | None) -> None:
        self.model.set_fused(None if volume is None else FusedLayer(volume))

    def set_settings(self, settings: FusionSettings) -> None:
        self.model.slot().fused.set_settings(settings)

    def set_matrix(self, matrix: np.ndarray) -> None:
        self.model.slot().fused.set_matrix(matrix)


@pytest.fixture
def fused(viewer):
    """The viewer showing a black fixed volume (0) and the fusion drawn; the test picks the moving volume."""
    fixed = uniform(0, box_phantom())
    viewer.model.set_image(fixed)
    viewer.model.set_window(*WINDOW)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)
    viewer.model.set_interpolation(False)
    return viewer, fixed, Fusion(viewer)


def slice_box(view) -> tuple[slice, slice]:
    """Screen rows and columns inside the shown slice (2 pixels in from its edges)."""
    g = view.grid
    x0, y0 = view.world_to_display(view.shown.to_world(g.origin[0], g.origin[1]))
    x1, y1 = view.world_to_display(view.shown.to_world(g.origin[0] + (g.size[0] - 1) * g.spacing[0],
                                                       g.origin[1] + (g.size[1] - 1) * g.spacing[1]))
    return slice(int(np.ceil(y0)) + 2, int(y1) - 2), slice(int(np.ceil(x0)) + 2, int(x1) - 2)


def test_alpha_zero_shows_the_fixed_image_and_one_the_moving_one(fused):
    viewer, fixed, fusion = fused
    moving = uniform(1000, fixed)
    view = viewer.slice_view("axial")
    rows, cols = slice_box(view)
    fusion.set_moving(moving)
    for opacity, expected in ((0.0, 0), (1.0, 255), (0.25, 64)):
        fusion.set_settings(FusionSettings(mode="blend", opacity=opacity, moving_window=SAME))
        inside = view.capture()[rows, cols]
        assert np.all(np.abs(inside.astype(int) - expected) <= 1), (opacity, np.unique(inside))
    fusion.set_moving(None)  # off again: the fixed layer alone
    assert np.all(view.capture()[rows, cols] == 0)


def test_checkerboard_alternates_the_two_images_in_squares_of_the_given_size(fused):
    viewer, fixed, fusion = fused
    fusion.set_moving(uniform(1000, fixed))
    view = viewer.slice_view("axial")
    rows, cols = slice_box(view)
    fusion.set_settings(FusionSettings(mode="checkerboard", square_mm=8.0, moving_window=SAME))
    shown = view.capture()[rows, cols, 0]
    assert set(np.unique(shown)) == {0, 255}  # only the fixed (black) and moving (white) images
    # Along a screen row the colour flips every 8 mm: runs of about 8 / mm_per_pixel pixels.
    row = shown[shown.shape[0] // 2] > 127
    flips = np.flatnonzero(np.diff(row.astype(int)))
    runs = np.diff(flips)
    assert len(runs) >= 3
    assert np.allclose(runs, 8.0 / view.mm_per_pixel(), atol=1.5)
    # Swapping puts each image in the other's squares.
    fusion.set_settings(FusionSettings(mode="checkerboard", square_mm=8.0, swap=True, moving_window=SAME))
    swapped = view.capture()[rows, cols, 0]
    assert np.mean((swapped > 127) != (shown > 127)) > 0.97
    # Squares of 16 mm: half as many flips.
    fusion.set_settings(FusionSettings(mode="checkerboard", square_mm=16.0, moving_window=SAME))
    wide = view.capture()[rows, cols, 0]
    assert len(np.flatnonzero(np.diff((wide[wide.shape[0] // 2] > 127).astype(int)))) < len(flips) * 0.6


def test_checker_mask_squares_are_anchored_in_plane_millimetres():
    mask = checker_mask((4, 8), origin=(-2.0, 0.0), spacing=(1.0, 1.0), square_mm=2.0)
    # u = -2, -1 | 0, 1 | 2, 3 | 4, 5 in squares -1, 0, 1, 2; v = 0, 1 | 2, 3 in squares 0, 1
    assert mask[0].tolist() == [True, True, False, False, True, True, False, False]
    assert mask[2].tolist() == [not x for x in mask[0].tolist()]


def test_overlay_colours_the_moving_image_hot_and_leaves_the_fixed_where_it_is_below_its_window(fused):
    viewer, fixed, fusion = fused
    moving = box_phantom()  # -1000 around a box of 200 and a 1000 marker
    fusion.set_moving(moving)
    fusion.set_settings(FusionSettings(mode="overlay", opacity=1.0, moving_window=Window(100, 500)))
    viewer.model.set_position(moving.index_to_world((30, 28, 20)))  # in the box
    view = viewer.slice_view("axial")
    rgb = view.capture().astype(int)
    box_centre = np.round(view.world_to_display(moving.index_to_world((30, 28, 20)))).astype(int)
    r, g, b = rgb[box_centre[1], box_centre[0]]
    assert r > g > b or (r == 255 and g >= b and r > b), (r, g, b)  # hot colours: red before green before blue
    outside = np.round(view.world_to_display(moving.index_to_world((2, 2, 20)))).astype(int)
    assert tuple(rgb[outside[1], outside[0]]) == (0, 0, 0)  # air in the moving image: the (black) fixed shows


def test_difference_is_black_where_the_images_agree(fused):
    viewer, fixed, fusion = fused
    fusion.set_moving(uniform(0, fixed))
    view = viewer.slice_view("axial")
    rows, cols = slice_box(view)
    fusion.set_settings(FusionSettings(mode="difference", moving_window=viewer.model.window()))
    assert np.all(view.capture()[rows, cols] == 0)
    fusion.set_moving(uniform(1000, fixed))
    fusion.set_settings(FusionSettings(mode="difference", moving_window=viewer.model.window()))
    assert np.all(view.capture()[rows, cols] >= 254)


def marker_position(view) -> np.ndarray:
    rgb = view.capture()
    ys, xs = np.nonzero(rgb.min(axis=2) >= 250)
    assert len(xs) > 0, "the moving marker is not on screen"
    return np.array([xs.mean(), ys.mean()])


def test_the_moving_image_follows_a_transform_update(fused):
    viewer, fixed, fusion = fused
    moving = box_phantom()
    marker = moving.index_to_world((33, 30, 20))
    fusion.set_moving(moving)
    fusion.set_settings(FusionSettings(mode="blend", opacity=1.0, moving_window=viewer.model.window()))
    viewer.model.set_position(marker)
    viewer.model.set_window(700, 200)  # only the 1000 marker is white
    fusion.set_settings(FusionSettings(mode="blend", opacity=1.0, moving_window=viewer.model.window()))
    view = viewer.slice_view("axial")
    before = marker_position(view)
    # fixed point x reads the moving image at x + shift: the marker now shows at marker - shift
    shift = np.array([8.0, -5.4, 0.0])  # whole voxels (0.8 x 0.9 mm): nearest-neighbour pixels move exactly
    matrix = np.eye(4)
    matrix[:3, 3] = shift
    fusion.set_matrix(matrix)
    after = marker_position(view)
    expected = np.array(view.world_to_display(marker - shift)) - np.array(view.world_to_display(marker))
    assert np.allclose(after - before, expected, atol=1.0), (after - before, expected)


def test_alt_keys_and_drags_nudge_the_moving_image_by_a_millimetre_or_a_degree(fused, qtbot):
    viewer, fixed, fusion = fused
    fusion.set_moving(uniform(1000, fixed))
    view = viewer.slice_view("axial")
    motions = []
    fusion.widget.nudged.connect(motions.append)
    alt = Qt.KeyboardModifier.AltModifier
    qtbot.keyClick(view.canvas, Qt.Key.Key_Right, alt)
    assert np.allclose(motions[-1][:3, 3], np.asarray(view.shown.right)) and np.allclose(motions[-1][:3, :3], np.eye(3))
    qtbot.keyClick(view.canvas, Qt.Key.Key_Period, alt)
    turn = motions[-1]
    assert np.isclose(np.degrees(np.arccos((np.trace(turn[:3, :3]) - 1) / 2)), 1.0)
    centre = np.asarray(view.plane.center)
    assert np.allclose(turn[:3, :3] @ centre + turn[:3, 3], centre)  # about the crosshair
    slices_before = view.slice_number()
    qtbot.keyClick(view.canvas, Qt.Key.Key_Up, alt)  # a nudge, not a slice step
    assert view.slice_number() == slices_before and np.allclose(motions[-1][:3, 3], -np.asarray(view.shown.down))
    # Alt + left drag by 40 pixels to the right: the image moves 40 pixels' worth of mm to the right.
    count = len(motions)
    qtbot.mousePress(view.canvas, Qt.MouseButton.LeftButton, alt, QPoint(100, 100))
    qtbot.mouseMove(view.canvas, QPoint(140, 100))
    qtbot.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, alt, QPoint(140, 100))
    moved = sum(m[:3, 3] for m in motions[count:])
    assert np.allclose(moved, 40 * view.mm_per_pixel() * np.asarray(view.shown.right), atol=1e-6)


def test_landmark_clicks_are_stored_in_each_image_frame(fused, qtbot):
    viewer, fixed, fusion = fused
    fusion.set_moving(uniform(1000, fixed))
    fusion.widget.set_landmark_mode(True)
    view = viewer.slice_view("axial")
    picked = []
    fusion.widget.landmarkPicked.connect(picked.append)
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(120, 130))
    assert np.allclose(picked[0], view.display_to_world(120, 130))
    pairs = LandmarksLayer()
    shift = np.eye(4)
    shift[:3, 3] = (5.0, 0.0, -2.0)
    assert pairs.place(picked[0], shift) == "fixed"
    assert pairs.place(picked[0], shift) == "moving"
    f, m = pairs.pairs()
    assert np.allclose(m - f, [[5.0, 0.0, -2.0]])
    assert np.allclose(pairs.moving_in_fixed(shift), f)


def test_the_moving_image_is_windowed_from_its_values_not_its_header(fused):
    viewer, fixed, fusion = fused
    moving = box_phantom(modality="MR")
    moving.meta.window_presets = [WindowPreset("Algo1", 3.0, 6.0)]  # as the cirs057a MR's header says
    fusion.set_moving(moving)
    window = viewer.model.slot().fused.moving_window
    assert window == preset_window(moving, AUTO_PRESET) and window.width > 6.0
