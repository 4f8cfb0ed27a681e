"""The labels layer drawn in the MPR views under Xvfb, checked on rendered pixels against the map's LPS geometry.

A box phantom with a labelled block of known LPS extent: on straight and
oblique planes a point inside the block shows the segment's fill blended
over the image, a point outside shows the image alone; hiding the segment
or the layer restores the image; a voxel change redraws only the views whose
slice crosses it (only they are repainted, only their frames rebuilt).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.widgets.volumes import box_phantom
from widgets.fusion import FusionSettings
from widgets.fusion_layer import ViewerFusion
from widgets.labels_layer import BRUSH_COLOUR, ViewerLabels, colour_tables, colourise, labelled_box
from workstation.labels import LabelMap, default_segment
from workstation.viewer_model import FusedLayer, LabelsLayer
from workstation.viewer_model.display import Window
from workstation.volume import Volume

pytestmark = pytest.mark.gui
BLOCK = (slice(10, 26), slice(16, 40), slice(14, 44))  # k, j, i of the labelled block (inside the phantom's box)


@pytest.fixture
def labelled(viewer):
    image = box_phantom()
    viewer.model.set_image(image)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)
    viewer.model.set_interpolation(False)
    drawing = ViewerLabels(viewer)
    labels = LabelMap.empty_like(image, [default_segment(1, "block")])
    labels.array[BLOCK] = 1
    layer = LabelsLayer(labels)
    viewer.model.set_labels(layer)
    return viewer, image, labels, layer, drawing


def without_and_with(view, layer: LabelsLayer) -> tuple[np.ndarray, np.ndarray]:
    """The view's frame with the labels layer hidden, then shown."""
    layer.set_visible(False)
    image_only = view.capture()
    layer.set_visible(True)
    return image_only, view.capture()


def inside_block(image, lps: np.ndarray, margin: float = 1.0) -> bool | None:
    """True inside the block by at least ``margin`` voxels, False outside by as much, None near its faces."""
    ijk = image.world_to_index(lps)
    low = np.array([BLOCK[2].start, BLOCK[1].start, BLOCK[0].start]) - 0.5
    high = np.array([BLOCK[2].stop, BLOCK[1].stop, BLOCK[0].stop]) - 0.5
    if np.all(ijk > low + margin) and np.all(ijk < high - margin):
        return True
    if np.any(ijk < low - margin) or np.any(ijk > high + margin):
        return False
    return None


def test_colourise_fills_and_outlines_each_number():
    labels = LabelMap.empty_like(box_phantom(), [default_segment(1), default_segment(2)])
    fill, outline = colour_tables(labels, 1.0, True)
    numbers = np.zeros((6, 7), np.uint8)
    numbers[1:5, 1:4] = 1
    numbers[1:5, 4:6] = 2
    rgba = colourise(numbers, fill, outline)
    assert np.array_equal(rgba[0, 0], [0, 0, 0, 0])
    assert np.array_equal(rgba[2, 2], fill[1]) and fill[1][3] == round(255 * labels.segment(1).opacity)
    assert np.array_equal(rgba[1, 2], outline[1]) and np.array_equal(rgba[2, 3], outline[1])  # edge, and next to 2
    assert np.array_equal(rgba[2, 4], outline[2]) and outline[2][3] == 255


def test_colouring_the_labelled_box_alone_gives_the_whole_slices_pixels():
    labels = LabelMap.empty_like(box_phantom(), [default_segment(1), default_segment(2)])
    tables = colour_tables(labels, 1.0, True)
    numbers = np.zeros((40, 50), np.uint8)
    numbers[5:20, 30:45] = 1
    numbers[12:18, 8:31] = 2  # touching segment 1: the outline between them lies inside the box
    box = labelled_box(numbers)
    assert box == (slice(5, 20), slice(8, 45))
    whole = colourise(numbers, *tables)
    assert np.array_equal(colourise(numbers[box], *tables), whole[box])
    outside = np.ones(numbers.shape, bool)
    outside[box] = False
    assert not whole[outside][:, 3].any()  # nothing drawn outside the box
    assert labelled_box(np.zeros((4, 4), np.uint8)) is None


@pytest.mark.parametrize("turn", [0.0, 25.0])
def test_the_block_shows_its_colour_where_the_plane_cuts_it(labelled, turn):
    viewer, image, labels, layer, _ = labelled
    if turn:
        viewer.model.rotate_crosshair("axial", turn)  # coronal and sagittal become oblique
    segment = labels.segment(1)
    for name in ("axial", "coronal", "sagittal"):
        view = viewer.slice_view(name)
        image_only, shown = without_and_with(view, layer)
        checked = {True: 0, False: 0}
        h, w, _ = shown.shape
        for y in range(5, h - 5, 11):
            for x in range(5, w - 5, 11):
                where = inside_block(image, view.display_to_world(x, y))
                if where is None:
                    continue
                expected = (segment.opacity * np.asarray(segment.colour) + (1 - segment.opacity) * image_only[y, x]
                            if where else image_only[y, x].astype(float))
                assert np.all(np.abs(shown[y, x] - expected) <= 3), (name, turn, x, y, where, shown[y, x], expected)
                checked[where] += 1
        assert checked[True] > 20 and checked[False] > 20, (name, checked)


def test_hiding_a_segment_shows_the_image_and_a_change_redraws_only_the_views_it_crosses(labelled):
    viewer, image, labels, layer, drawing = labelled
    views = {name: viewer.slice_view(name) for name in ("axial", "coronal", "sagittal")}
    axial = views["axial"]
    x, y = (int(round(c)) for c in axial.world_to_display(image.index_to_world([28, 28, 18])))
    shown = axial.capture()[y, x]
    labels.segment(1).visible = False
    layer.segments_changed()
    hidden = axial.capture()[y, x]
    labels.segment(1).visible = True
    layer.segments_changed()
    assert not np.array_equal(shown, hidden) and np.array_equal(axial.capture()[y, x], shown)

    before = axial.capture()
    paints = Paints(views)
    kept = {name: view.prepare_frame() for name, view in views.items()}
    k = int(round(image.world_to_index(viewer.model.position())[2]))
    labels.array[k, 0:3, 0:3] = 1  # on the axial slice shown, away from the coronal and sagittal planes
    layer.voxels_changed((slice(k, k + 1), slice(0, 3), slice(0, 3)))
    drawing.flush()  # the deferred views now, rather than at the next turn of the event loop
    assert paints.count == {"axial": 1, "coronal": 0, "sagittal": 0}
    rebuilt = {name for name, view in views.items() if view.prepare_frame() is not kept[name]}
    assert rebuilt == {"axial"}  # asked for their frames, the others still have the one they had
    x, y = (int(round(c)) for c in axial.world_to_display(image.index_to_world([1, 1, k])))
    segment = labels.segment(1)
    blend = segment.opacity * np.asarray(segment.colour) + (1 - segment.opacity) * before[y, x]
    assert np.all(np.abs(axial.capture()[y, x] - blend) <= 3), (axial.capture()[y, x], blend)  # the new voxels show
    far = 0 if k > 5 else image.array.shape[0] - 1  # a slice no view shows there
    kept = {name: view.prepare_frame() for name, view in views.items()}
    labels.array[far, 0:3, 0:3] = 1
    layer.voxels_changed((slice(far, far + 1), slice(0, 3), slice(0, 3)))
    drawing.flush()
    assert paints.count == {"axial": 1, "coronal": 0, "sagittal": 0}
    assert all(view.prepare_frame() is kept[name] for name, view in views.items())


class Paints(QObject):
    """Counts the paint events each view's canvas receives (a view repaints synchronously when it renders)."""

    def __init__(self, views: dict) -> None:
        super().__init__()
        self.count = {name: 0 for name in views}
        self._names = {view.canvas: name for name, view in views.items()}
        for view in views.values():
            view.canvas.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint and watched in self._names:
            self.count[self._names[watched]] += 1
        return False


def test_the_labels_show_over_a_fused_image_set_after_them(labelled):
    viewer, image, labels, layer, _ = labelled
    fusion = ViewerFusion(viewer)  # subscribed after the labels drawing: its layer joins the views later
    moving = Volume(np.full(image.array.shape, 1000, np.int16), image.affine.copy(), image.meta)
    viewer.model.set_fused(FusedLayer(moving))
    viewer.model.slot().fused.set_settings(FusionSettings(mode="blend", opacity=1.0,
                                                          moving_window=Window(500.0, 1000.0)))
    assert fusion.active
    view = viewer.slice_view("axial")
    segment = labels.segment(1)
    x, y = (int(round(c)) for c in view.world_to_display(image.index_to_world([28, 28, 18])))
    shown = view.capture()
    blend = segment.opacity * np.asarray(segment.colour) + (1 - segment.opacity) * 255.0  # over the white moving image
    assert np.all(np.abs(shown[y, x] - blend) <= 3), (shown[y, x], blend)


def test_the_brush_circle_follows_the_pointer_at_its_radius_in_mm(labelled):
    viewer, image, labels, layer, drawing = labelled
    view = viewer.slice_view("axial")
    before = view.capture()
    drawing.set_tool("paint", 8.0)
    x, y = view.canvas.width() // 2, view.canvas.height() // 2
    hover = QMouseEvent(QEvent.Type.MouseMove, QPointF(x, y), QPointF(view.canvas.mapToGlobal(QPoint(x, y))),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.canvas, hover)  # delivered now, through the event filters (no pointer warp)
    shown = view.capture()
    ring = 8.0 / view.mm_per_pixel()  # pixels from the pointer to the circle, from the view's scale
    brush = np.asarray(BRUSH_COLOUR) * 255
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        near = [shown[int(round(y + dy * (ring + d))), int(round(x + dx * (ring + d)))] for d in (-1, 0, 1)]
        assert min(np.abs(p - brush).max() for p in near) <= 40, (dx, dy, near)  # the pen, antialiased
    inside = (x + int(ring / 2), y)
    assert np.array_equal(shown[inside[1], inside[0]], before[inside[1], inside[0]])
    drawing.set_tool(None)
    assert np.array_equal(view.capture(), before)
