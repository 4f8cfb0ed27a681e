"""The viewer's controls in the real main window under Xvfb, on the demo study: every control changes the views.

Toolbar buttons and combo boxes are used as a reader uses them (triggered
actions, chosen items, key presses in a view); what they change is checked
on rendered pixels or on the viewer's state. The measurement list shows a
ruler drawn with the mouse, with its value in mm; the compare actions put the
demo MR beside the CT and its views follow (or not) in LPS mm.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit

from tests.app.conftest import open_and_load
from widgets.help_panel import HelpPanel
from workstation.app.main_window import MainWindow
from workstation.app.view_controls import ViewControls
from workstation.viewer_model.display import preset_window
from workstation.viewer_model.model import Links


def axial_pixels(window: MainWindow, slot: int = 0) -> np.ndarray:
    return window.viewer.slice_view("axial", slot).capture().astype(np.int16)


def choose(combo, text: str) -> None:
    """Pick an item as the user does (the ``activated`` and change signals fire)."""
    index = combo.findText(text)
    assert index >= 0, f"{text!r} not offered: {[combo.itemText(n) for n in range(combo.count())]}"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def ctrl_wheel(view, steps: int = 1) -> None:
    """A Ctrl+wheel step over a slice view: zoom."""
    centre = QPointF(view.canvas.width() / 2, view.canvas.height() / 2)
    event = QWheelEvent(centre, view.canvas.mapToGlobal(centre), QPoint(), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                        False)
    QApplication.sendEvent(view.canvas, event)


def accept_file_dialog(qtbot, path: Path) -> None:
    """Answer the next modal file dialog with ``path`` (the real Qt dialog of the export flows)."""
    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(50, answer)
            return
        dialog.findChild(QLineEdit, "fileNameEdit").setText(str(path))  # typed, as a user does
        dialog.accept()

    QTimer.singleShot(50, answer)


@pytest.fixture
def demo_window(qtbot, window: MainWindow, demo_study: Path) -> MainWindow:
    key = open_and_load(qtbot, window, demo_study)
    window.demo_key = key
    return window


def test_toolbar_controls_change_what_the_views_show(qtbot, demo_window: MainWindow) -> None:
    window, viewer = demo_window, demo_window.viewer
    bar = window.view_controls.toolbar
    axial = viewer.slice_view("axial")

    bar.layout_actions["1x1"].trigger()
    assert window.layout_name == viewer.layout_name == "1x1" and window.layout_actions["1x1"].isChecked()
    assert [v.name for v in viewer.visible_views()] == ["axial"]
    window.layout_actions["1x3"].trigger()  # the menu and the toolbar show the same layout
    assert bar.layout_actions["1x3"].isChecked() and len(viewer.visible_views()) == 3

    plain = axial_pixels(window)
    bar.crosshair.trigger()
    bar.annotations.trigger()
    assert not bar.crosshair.isChecked() and not axial.crosshair.lines
    assert axial.annotation()["lower_left"] and not axial.corners.visible
    clean = axial_pixels(window)
    assert np.abs(clean - plain).max() > 100  # lines and letters gone

    volume = viewer.model.volume()
    assert bar.presets.count() == len(viewer.model.preset_names()) + 1
    name = next(n for n in viewer.model.preset_names() if preset_window(volume, n) != viewer.model.window())
    choose(bar.presets, name)
    assert viewer.model.window() == preset_window(volume, name)
    assert bar.window_label.text().split() == ["W", f"{viewer.model.window().width:.0f}", "L",
                                               f"{viewer.model.window().center:.0f}"]
    windowed = axial_pixels(window)
    assert np.abs(windowed - clean).mean() > 1

    bar.invert.trigger()
    assert viewer.model.display_settings()["invert"]
    inverted = axial_pixels(window)
    h, w = inverted.shape[:2]
    r = min(h, w) // 5
    inside = (slice(h // 2 - r, h // 2 + r), slice(w // 2 - r, w // 2 + r))  # within the slice, not the margin
    np.testing.assert_allclose(inverted[inside], 255 - windowed[inside], atol=2)
    bar.invert.trigger()

    choose(bar.colormap, "Hot iron")
    coloured = axial_pixels(window)
    assert np.abs(coloured[..., 0] - coloured[..., 2]).max() > 100  # grey has r == g == b
    choose(bar.colormap, "Grey")

    viewer.model.set_camera("axial", axial.camera2d.zoomed(4.0))  # pixels large enough for the interpolation to show
    smooth = axial_pixels(window)
    bar.interpolation.trigger()
    assert not viewer.model.display_settings()["interpolation"]
    assert np.abs(axial_pixels(window) - smooth).max() > 20
    bar.interpolation.trigger()
    bar.reset.trigger()
    assert axial.camera2d.zoom == 1.0

    thin = axial_pixels(window)
    bar.slab_mm.setValue(20.0)
    choose(bar.slab_mode, "MIP")
    assert viewer.model.display_settings()["slab"] == ("mip", 20.0) and axial.layer.slab_slices() > 1
    mip = axial_pixels(window)
    assert np.all(mip >= thin - 2) and np.abs(mip - thin).max() > 20  # a maximum over the slab
    choose(bar.slab_mode, "Thin")
    assert axial.layer.slab_slices() == 1

    viewer.model.set_position(volume.center() + [20.0, -15.0, 30.0])
    bar.reset.trigger()
    np.testing.assert_allclose(viewer.model.position(), volume.center())

    bar.fps.setValue(30)
    first = axial.slice_number()[0]
    bar.cine.trigger()
    assert viewer.cine_running
    qtbot.waitUntil(lambda: axial.slice_number()[0] >= first + 3, timeout=60_000)
    bar.cine.trigger()
    assert not viewer.cine_running

    bar.tool_actions["ruler"].trigger()
    assert viewer.model.tool == "ruler" and axial.tool == "ruler"
    qtbot.keyClick(axial.canvas, Qt.Key.Key_Escape)  # keys in a view show in the toolbar
    qtbot.keyClick(axial.canvas, "i")
    qtbot.keyClick(axial.canvas, "a")
    assert viewer.model.tool == "angle" and bar.tool_actions["angle"].isChecked()
    assert bar.invert.isChecked() and viewer.model.display_settings()["invert"]
    bar.tool_actions["W/L"].trigger()
    assert viewer.model.tool is None

    assert window.identity_action in bar.actions()
    bar.help.trigger()
    assert any(isinstance(w, HelpPanel) and w.isVisible() for w in QApplication.topLevelWidgets())


def test_measurement_list_shows_a_ruler_drawn_with_the_tool_and_follows_edits(qtbot, demo_window: MainWindow,
                                                                          tmp_path: Path) -> None:
    window, viewer = demo_window, demo_window.viewer
    controls: ViewControls = window.view_controls
    listing = controls.measurements
    axial = viewer.slice_view("axial")
    assert listing.rows() == [] and not listing.csv_button.isEnabled()

    controls.toolbar.tool_actions["ruler"].trigger()
    x, y = axial.canvas.width() // 2 - 60, axial.canvas.height() // 2 + 10
    qtbot.mouseClick(axial.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseClick(axial.canvas, Qt.MouseButton.LeftButton, pos=QPoint(x + 120, y))
    (ruler,) = viewer.model.measurements()
    expected = 120 * axial.mm_per_pixel()  # 120 screen pixels along the view's right axis
    assert ruler.kind == "ruler"
    assert np.linalg.norm(ruler.points[1] - ruler.points[0]) == pytest.approx(expected, rel=1e-6)
    ((label, kind, shown),) = listing.rows()
    assert (label, kind, shown) == ("", "ruler", f"length {expected:.1f} mm")

    viewer.model.set_position(viewer.model.volume().center() + [0.0, 0.0, 25.0])  # elsewhere; the list takes us back
    listing.select(ruler.uid)
    np.testing.assert_allclose(viewer.model.position(), ruler.points.mean(axis=0))
    assert ruler in axial.visible_measurements()

    listing.tree.topLevelItem(0).setText(0, "aorta")  # as typed in the row
    assert viewer.model.measurements()[0].label == "aorta" and listing.rows()[0][0] == "aorta"
    assert window.store.load(window.demo_key)[0]["label"] == "aorta"

    out = tmp_path / "list.csv"
    accept_file_dialog(qtbot, out)
    listing.csv_button.click()
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["label"] == "aorta" and float(row["length_mm"]) == pytest.approx(expected)

    sr = tmp_path / "list.dcm"
    accept_file_dialog(qtbot, sr)
    with qtbot.waitSignal(window.runner.jobsChanged, check_params_cb=lambda n: n == 0, timeout=60_000):
        listing.sr_button.click()
    assert sr.stat().st_size > 0

    listing.select(ruler.uid)
    listing.delete_button.click()
    assert viewer.model.measurements() == [] and listing.rows() == []
    assert window.store.load(window.demo_key) == []


def test_3d_controls_drive_the_volume_view(qtbot, demo_window: MainWindow) -> None:
    window, viewer = demo_window, demo_window.viewer
    panel = window.view_controls.volume_controls
    window.set_layout("1x1")
    viewer.maximise("3d")
    view = viewer.volume_view()
    panel.sync()
    assert panel.preset.currentText() == view.preset == "CT soft tissue"

    panel.preset.setCurrentText("CT bone")
    panel.shift.setValue(-200)
    assert (view.preset, view.shift) == ("CT bone", -200.0)
    shown = view.capture()
    assert shown.std() > 5
    panel.opacity.setValue(0)
    assert view.opacity == 0.0
    assert np.abs(view.capture().astype(int) - shown).max() > 50 and view.capture().std() < shown.std()
    panel.opacity.setValue(100)

    panel.mode.setCurrentText("mip")
    assert view.mode == "mip" and view.mapper.GetBlendMode() == view.mapper.MAXIMUM_INTENSITY_BLEND
    panel.iso.setValue(150)
    panel.mode.setCurrentText("isosurface")
    assert view.mode == "isosurface" and view.iso_threshold == 150.0
    points = view.surface.GetMapper().GetInput().GetNumberOfPoints()
    assert points > 0

    panel.crop_upper[2].setValue(50)  # keep the lower half of the slices
    lower, upper = view.crop
    np.testing.assert_allclose(upper, [1.0, 1.0, 0.5])
    np.testing.assert_allclose(lower, [0.0, 0.0, 0.0])
    assert view.mapper.GetCropping() and view.surface.GetMapper().GetInput().GetNumberOfPoints() < points
    panel.crop_upper[2].setValue(100)
    assert view.crop is None and not view.mapper.GetCropping()


def test_a_second_series_beside_the_first_follows_where_linked(qtbot, demo_window: MainWindow) -> None:
    window, viewer = demo_window, demo_window.viewer
    controls: ViewControls = window.view_controls
    mr_key = next(k for k in window.catalog.entries if k != window.demo_key)
    window.browser.select_series(mr_key)
    controls.compare_action.trigger()
    qtbot.waitUntil(lambda: viewer.model.volume(1) is not None, timeout=120_000)
    second = viewer.model.volume(1)
    assert second.meta.modality == "MR" and viewer.model.volume().meta.modality == "CT"
    assert controls.second_key == mr_key
    assert axial_pixels(window, 1).std() > 5  # the MR is on screen beside the CT
    assert viewer.model.links == Links(position=True, zoom=True, window=False)

    target = viewer.model.volume().center() + [12.0, -8.0, 20.0]
    viewer.model.set_position(target)
    np.testing.assert_allclose(viewer.model.position(1), target)  # the same LPS point, in mm
    mr_axial = viewer.slice_view("axial", 1)
    assert abs(mr_axial.shown.center[2] - target[2]) <= mr_axial.stack.step / 2 + 1e-6
    viewer.model.step_slice("axial", 3)
    np.testing.assert_allclose(viewer.model.position(1), viewer.model.position(0))

    ct_axial = viewer.slice_view("axial")
    ctrl_wheel(ct_axial, 2)
    assert ct_axial.camera2d.zoom == pytest.approx(1.21)
    assert mr_axial.camera2d.zoom == pytest.approx(ct_axial.camera2d.zoom)

    mr_window = viewer.model.window(1)
    viewer.model.set_window(500, 1000)
    assert viewer.model.window(1) == mr_window  # window not linked by default
    controls.link_actions["window"].trigger()
    viewer.model.set_window(300, 700)
    assert viewer.model.window(1) == viewer.model.window(0)

    controls.link_actions["position"].trigger()
    controls.link_actions["zoom"].trigger()
    assert viewer.model.links == Links(position=False, zoom=False, window=True)
    kept = viewer.model.position(1)
    viewer.model.set_position(target - [0.0, 0.0, 30.0])
    np.testing.assert_allclose(viewer.model.position(1), kept)
    np.testing.assert_allclose(viewer.model.position(0), target - [0.0, 0.0, 30.0])
    ctrl_wheel(ct_axial, 1)
    assert mr_axial.camera2d.zoom == pytest.approx(1.21) and ct_axial.camera2d.zoom == pytest.approx(1.331)

    controls.close_compare()
    assert viewer.model.volume(1) is None and controls.second_key == ""
