"""Measurement tools driven with the mouse: ruler, angle, ellipse and rectangle ROIs, edits and deletion.

Values are checked against what the phantoms are known to be: the box
phantom's size and values, and the demo head phantom's skin ellipsoid and
tissue HU (``workstation.demo``), found in the rendered image, not assumed.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.widgets.conftest import series
from tests.widgets.volumes import box_phantom
from workstation import demo
from workstation.measurements import length_mm, roi_stats


def drag(qtbot, view, start, end) -> None:
    """Press at ``start``, move and release at ``end`` (widget pixels)."""
    a, b = QPoint(*map(int, np.rint(start))), QPoint(*map(int, np.rint(end)))
    qtbot.mousePress(view.canvas, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(view.canvas, QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2))
    qtbot.mouseMove(view.canvas, b)
    qtbot.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, pos=b)


def click(qtbot, view, point) -> None:
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=QPoint(*map(int, np.rint(point))))


@pytest.fixture
def box_viewer(viewer):
    volume = box_phantom()
    viewer.model.set_image(volume)
    viewer.model.set_position(volume.index_to_world([29.5, 27.5, 18]))
    viewer.maximise("axial")
    return viewer, volume, viewer.slice_view("axial")


def test_ruler_across_the_box_measures_its_width(box_viewer, qtbot):
    viewer, volume, axial = box_viewer
    viewer.model.set_tool("ruler")
    k = 18
    left, right = volume.index_to_world([9.5, 27.5, k]), volume.index_to_world([49.5, 27.5, k])  # outer edges
    with qtbot.waitSignal(viewer.measurementsChanged):
        drag(qtbot, axial, axial.world_to_display(left), axial.world_to_display(right))
    (ruler,) = viewer.model.measurements()
    assert ruler.kind == "ruler" and ruler.series_uid == volume.meta.series_uid
    assert length_mm(ruler) == pytest.approx(40 * 0.8, abs=2 * axial.mm_per_pixel())
    assert viewer.model.measurement_values(ruler)["length"][1] == "mm"
    assert np.allclose(ruler.plane.normal, [0, 0, 1]) and all(abs(p[2] - left[2]) < 1e-9 for p in ruler.points)


def test_rois_read_the_box_value_and_a_mix_at_its_edge(box_viewer, qtbot):
    viewer, volume, axial = box_viewer
    viewer.model.set_tool("ellipse")
    centre = volume.index_to_world([29.5, 27.5, 18])
    drag(qtbot, axial, axial.world_to_display(centre - [8, 6, 0]), axial.world_to_display(centre + [8, 6, 0]))
    viewer.model.set_tool("rectangle")
    # half inside the box (x from the box edge inwards), half outside
    edge = volume.index_to_world([9.5, 27.5, 18])
    click(qtbot, axial, axial.world_to_display(edge + [-6, -5, 0]))  # click, click: the second corner
    click(qtbot, axial, axial.world_to_display(edge + [6, 5, 0]))
    ellipse, rectangle = viewer.model.measurements()
    stats = roi_stats(ellipse, volume)
    assert (stats.mean, stats.sd, stats.min, stats.max) == (200, 0, 200, 200)
    assert stats.area_mm2 == pytest.approx(np.pi * 8 * 6, rel=0.1)
    values = viewer.model.measurement_values(rectangle)
    assert values["min"][0] == -1000 and values["max"][0] == 200
    assert values["mean"][0] == pytest.approx(-400, abs=150)  # about half of each
    assert values["mean"][1] == "HU" and values["area"][1] == "mm2"
    labels = axial.measure_layer.labels
    assert len(labels) == 2 and any(label.startswith("mean 200.0 HU, SD 0.0") for label in labels)


def test_angle_edit_and_delete(box_viewer, qtbot):
    viewer, volume, axial = box_viewer
    viewer.model.set_tool("angle")
    vertex = volume.index_to_world([29.5, 27.5, 18])
    arm1, arm2 = vertex + [15, 0, 0], vertex + [0, -15, 0]
    for point in (arm1, vertex, arm2):
        click(qtbot, axial, axial.world_to_display(point))
    (angle,) = viewer.model.measurements()
    assert viewer.model.measurement_values(angle)["angle"][0] == pytest.approx(90, abs=2)
    # drag the second arm's end along the first arm's side: the angle closes to 45 degrees
    with qtbot.waitSignal(viewer.measurementsChanged):
        drag(qtbot, axial, axial.world_to_display(arm2), axial.world_to_display(vertex + [15, -15, 0]))
    (edited,) = viewer.model.measurements()
    assert edited.uid == angle.uid
    assert viewer.model.measurement_values(edited)["angle"][0] == pytest.approx(45, abs=2)
    qtbot.keyClick(axial.canvas, Qt.Key.Key_Escape)  # deselect
    viewer.model.set_tool(None)
    click(qtbot, axial, axial.world_to_display(vertex))  # grabbing a handle selects it
    qtbot.keyClick(axial.canvas, Qt.Key.Key_Delete)
    assert viewer.model.measurements() == []


def test_measurements_stay_on_their_slice(box_viewer, qtbot):
    viewer, volume, axial = box_viewer
    viewer.model.set_tool("ruler")
    a = volume.index_to_world([20, 20, 18])
    drag(qtbot, axial, axial.world_to_display(a), axial.world_to_display(a + [10, 0, 0]))
    assert len(axial.visible_measurements()) == 1
    viewer.model.step_slice("axial", 1)
    assert axial.visible_measurements() == []
    viewer.model.step_slice("axial", -1)
    assert len(axial.visible_measurements()) == 1


def edges_along_row(profile: np.ndarray, threshold: float) -> tuple[int, int]:
    inside = np.nonzero(profile > threshold)[0]
    return int(inside[0]), int(inside[-1])


def test_demo_head_width_and_tissue_values(viewer, qtbot):
    """Skin ellipsoid 148 mm wide (semi-axis 74 mm in x); white matter 26 HU and the lesion 85 HU before noise."""
    ct = series(demo.ensure_demo_study() / demo.CT.folder)
    viewer.model.set_image(ct)
    viewer.model.set_position(demo.HEAD_CENTER)
    viewer.maximise("axial")
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)
    viewer.model.set_window(-480, 100)  # air black, every tissue white: the head's outline
    axial = viewer.slice_view("axial")
    rgb = axial.capture()
    _, y = axial.world_to_display(demo.HEAD_CENTER)
    x0, x1 = edges_along_row(rgb[int(round(y)), :, 0].astype(float), 127)
    viewer.model.set_tool("ruler")
    drag(qtbot, axial, (x0, y), (x1, y))
    (ruler,) = viewer.model.measurements()
    assert length_mm(ruler) == pytest.approx(2 * 74, abs=1.5)  # within a pixel or two of the true width
    viewer.model.set_tool("ellipse")
    centre = demo.HEAD_CENTER
    drag(qtbot, axial, axial.world_to_display(centre - [18, 18, 0]), axial.world_to_display(centre + [18, 18, 0]))
    white = viewer.model.measurement_values(viewer.model.measurements()[-1])
    assert white["mean"][0] == pytest.approx(26, abs=2) and white["sd"][0] < 8 and white["mean"][1] == "HU"
    lesion = demo.LANDMARKS_CT["lesion"]
    viewer.model.set_position(lesion)
    drag(qtbot, axial, axial.world_to_display(lesion - [4, 4, 0]), axial.world_to_display(lesion + [4, 4, 0]))
    dense = viewer.model.measurement_values(viewer.model.measurements()[-1])
    assert dense["mean"][0] == pytest.approx(85, abs=4)
