"""The viewer under Xvfb: clicks, keys, drags, layouts, windows, slabs and loading, checked on rendered pixels."""

from __future__ import annotations

import threading

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.widgets.conftest import series
from tests.widgets.volumes import box_phantom
from workstation import geometry
from workstation.viewer_model.display import Window

MARKER_IJK = (33, 30, 20)
# i runs to the patient's posterior, j to the right, k to superior: nothing lines up with the screen by index.
TURNED = geometry.rotation_matrix([0, 0, 1], 90)


def white_pixels(rgb: np.ndarray) -> np.ndarray:
    """(n, 2) (x, y) of saturated white pixels."""
    ys, xs = np.nonzero(rgb.min(axis=2) >= 250)
    return np.stack([xs, ys], axis=1)


def marker_only(viewer) -> None:
    """Nearest-neighbour pixels, no overlays, a window where only the 1000 marker is white (box 200 is black)."""
    viewer.model.set_interpolation(False)
    viewer.model.set_window(700, 200)
    viewer.model.set_crosshair_visible(False)
    viewer.model.set_annotations_visible(False)


def click(qtbot, view, x: float, y: float, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, modifier, QPoint(int(round(x)), int(round(y))))


def test_a_click_on_a_voxel_reports_it_and_moves_all_three_views_there(viewer, qtbot):
    volume = box_phantom(direction=TURNED)
    marker = volume.index_to_world(MARKER_IJK)
    viewer.model.set_image(volume)
    # the axial slice of the marker, crosshair elsewhere in the plane
    viewer.model.set_position(marker + [12.0, -9.0, 0.0])
    marker_only(viewer)
    axial = viewer.slice_view("axial")
    found = white_pixels(axial.capture())
    assert len(found) > 0, "the marker is not drawn in its axial slice"
    x, y = found.mean(axis=0)
    probes = []
    viewer.probe.connect(probes.append)
    with qtbot.waitSignal(viewer.positionChanged):
        click(qtbot, axial, x, y)
    probe = probes[-1]
    assert probe["ijk"] == MARKER_IJK and probe["value"] == 1000 and probe["units"] == "HU"
    assert np.linalg.norm(probe["lps"] - marker) < 0.6  # within the voxel (0.8 x 0.9 mm pixels)
    assert np.allclose(viewer.model.position(), probe["lps"])
    for name in ("coronal", "sagittal"):
        view = viewer.slice_view(name)
        assert abs(view.shown.to_plane(marker)[2]) < 1e-6, f"{name} is not on the marker's slice"
        spots = white_pixels(view.capture())
        assert len(spots) > 0, f"the marker is not visible in the {name} view"
        assert np.allclose(spots.mean(axis=0), view.world_to_display(marker), atol=3)


def test_wheel_arrows_and_page_keys_step_through_slices(viewer, qtbot):
    volume = box_phantom()
    viewer.model.set_image(volume)
    axial = viewer.slice_view("axial")
    n0, count = axial.slice_number()
    assert count == volume.shape_ijk[2]
    z0 = viewer.model.position()[2]
    coronal = viewer.slice_view("coronal").slice_number()
    wheel = QWheelEvent(QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(axial.canvas, wheel)
    assert axial.slice_number()[0] == n0 + 1
    assert viewer.model.position()[2] == pytest.approx(volume.index_to_world([0, 0, n0])[2])  # onto a slice centre
    qtbot.keyClick(axial.canvas, Qt.Key.Key_PageUp)
    assert axial.slice_number()[0] == n0 + 11
    qtbot.keyClick(axial.canvas, Qt.Key.Key_Down)
    assert axial.slice_number()[0] == n0 + 10
    assert viewer.model.position()[2] - z0 > 0  # axial slices go up along +z (superior)
    assert viewer.slice_view("coronal").slice_number() == coronal  # axial steps leave the coronal slice
    assert f"Slice {n0 + 10}/{count}" in axial.annotation()["lower_left"]


def test_slice_n_of_n_is_the_image_at_that_place_in_the_dicom_headers(viewer, qtbot, cirs_ct):
    """Slice numbers against pydicom: the n-th axial slice (from the feet) is the n-th image by position."""
    heights = sorted(float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2])
                     for f in cirs_ct.glob("*.dcm"))
    viewer.model.set_image(series(cirs_ct))
    axial = viewer.slice_view("axial")
    n, count = axial.slice_number()
    assert count == len(heights) == 283
    assert viewer.model.position()[2] == pytest.approx(heights[n - 1], abs=1e-3)
    coronal = viewer.slice_view("coronal").slice_number()
    qtbot.keyClick(axial.canvas, Qt.Key.Key_PageUp)
    qtbot.keyClick(axial.canvas, Qt.Key.Key_Up)
    assert axial.slice_number() == (n + 11, count)
    assert viewer.model.position()[2] == pytest.approx(heights[n + 10], abs=1e-3)
    assert f"Slice {n + 11}/{count}" in axial.annotation()["lower_left"]
    assert viewer.slice_view("coronal").slice_number() == coronal


def test_mouse_drags_window_zoom_pan_and_double_click_maximises(viewer, qtbot):
    viewer.model.set_image(box_phantom())
    view = viewer.slice_view("coronal")
    canvas = view.canvas
    before = viewer.model.window()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(140, 120))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(140, 120))
    after = viewer.model.window()
    assert after.width > before.width and after.center > before.center
    scale = view.mm_per_pixel()
    qtbot.mousePress(canvas, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(100, 60))
    qtbot.mouseRelease(canvas, Qt.MouseButton.RightButton, pos=QPoint(100, 60))
    assert view.mm_per_pixel() < scale * 0.8  # dragged up: zoomed in
    centre = view.display_to_world(200, 200)
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(130, 100))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(130, 100))
    moved = view.display_to_world(230, 200)
    assert np.allclose(moved, centre, atol=view.mm_per_pixel())  # the image followed the mouse
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert viewer.maximised == "coronal" and [v.name for v in viewer.visible_views()] == ["coronal"]
    qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert viewer.maximised is None and len(viewer.visible_views()) == 3


def test_a_partial_repaint_covers_every_pixel_that_changed(viewer):
    """A wheel step repaints only the crosshair strips and the changed text of the views whose image stays: every
    pixel that differs between the whole frames before and after must lie in what is repainted."""
    viewer.model.set_image(box_phantom())
    viewer.flush()
    views = viewer.visible_views()
    for view in views:
        view.canvas.repaint()  # the whole view on screen: what the next partial repaints start from
    axial = viewer.slice_view("axial")
    centre = viewer.model.position()
    changes = {"wheel step": lambda: viewer.model.step_slice("axial", 2),  # the views render at the next turn
               "probe": lambda: axial._set_probe_text(axial.probe_at(centre))}  # the text a mouse move shows
    partial = []
    for what, change in changes.items():
        before = {view.name: view.capture() for view in views}
        change()
        for view in views:
            view.prepare_frame()
            region = view._changed_region(view._screen_state())
            changed = np.argwhere(np.any(view.capture() != before[view.name], axis=2))
            if region is not None:
                partial.append((what, view.name, region.boundingRect().height()))
                missed = [(x, y) for y, x in changed if not region.contains(QPoint(int(x), int(y)))]
                assert missed == [], (what, view.name, missed[:5])
            view.render()
    assert ("wheel step", "coronal") in [(what, name) for what, name, height in partial if height < 50]  # strips
    assert any(what == "probe" and name == "axial" for what, name, _ in partial)


def test_layouts_and_the_composed_screenshot(viewer):
    viewer.model.set_image(box_phantom())
    viewer.set_layout("1x3")
    assert [v.name for v in viewer.visible_views()] == ["axial", "coronal", "sagittal"]
    viewer.set_layout("1x1")
    assert [v.name for v in viewer.visible_views()] == [viewer.active_view]
    viewer.set_layout("2x2")
    assert [v.name for v in viewer.visible_views()] == ["axial", "coronal", "sagittal", "3d"]
    with pytest.raises(ValueError, match="layout"):
        viewer.set_layout("3x3")
    image = viewer.grab_image()
    assert (image.width(), image.height()) == (viewer.width(), viewer.height())
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    rgb = rgb[:, : 3 * image.width()].reshape(image.height(), image.width(), 3)
    h, w = rgb.shape[:2]
    for quadrant in (rgb[: h // 2, : w // 2], rgb[: h // 2, w // 2:], rgb[h // 2:, : w // 2], rgb[h // 2:, w // 2:]):
        assert (quadrant.max(axis=2) > 30).mean() > 0.05, "a view of the layout is blank in the screenshot"


def grey_at_centre(view) -> float:
    rgb = view.capture().astype(float)
    h, w = rgb.shape[:2]
    x, y = view.world_to_display(view.plane.center)
    # two pixels off the crosshair point, where the lines do not pass
    return float(rgb[int(y) + 6, int(x) + 6].mean())


def test_presets_invert_colour_maps_and_header_windows(viewer):
    volume = box_phantom()
    viewer.model.set_image(volume)
    assert viewer.model.window() == Window(40, 400)  # CT without header presets opens with Abdomen
    axial = viewer.slice_view("axial")
    viewer.model.set_crosshair_visible(False)
    viewer.model.apply_preset("Lung")  # -1350 .. 150: the 200 box is white
    assert viewer.model.window() == Window(-600, 1500)
    assert grey_at_centre(axial) > 250
    viewer.model.apply_preset("Brain")  # 0 .. 80: still white
    viewer.model.set_invert(True)
    assert grey_at_centre(axial) < 5
    viewer.model.set_invert(False)
    viewer.model.set_window(200, 400)  # 200 sits in the middle of the window
    assert grey_at_centre(axial) == pytest.approx(127.5, abs=3)
    viewer.model.set_colormap("Hot iron")
    rgb = axial.capture()
    x, y = axial.world_to_display(axial.plane.center)
    r, g, b = rgb[int(y) + 6, int(x) + 6].astype(int)
    assert r > 200 and b < 30  # hot iron at mid-window is red
    assert "W 400 L 200" in axial.annotation()["lower_right"]


def test_thick_slab_mip_shows_a_bright_voxel_from_a_nearby_slice(viewer):
    volume = box_phantom()
    marker = volume.index_to_world(MARKER_IJK)
    viewer.set_layout("1x3")
    viewer.model.set_image(volume)
    viewer.model.set_position(marker + [0, 0, 3 * 1.5])  # three slices above the marker
    marker_only(viewer)
    axial = viewer.slice_view("axial")
    assert len(white_pixels(axial.capture())) == 0
    viewer.model.set_slab("mip", 12.0)
    assert axial.layer.slab_slices() == 9
    spots = white_pixels(axial.capture())
    assert len(spots) > 0 and np.allclose(spots.mean(axis=0), axial.world_to_display(marker), atol=3)
    assert "MIP 13.5 mm" in axial.annotation()["lower_right"]
    viewer.model.set_slab("minip", 12.0)
    assert len(white_pixels(axial.capture())) == 0
    with pytest.raises(ValueError):
        viewer.model.set_slab("max", 3)


def test_ctrl_drag_rotates_the_crosshair_into_oblique_planes_and_r_resets(viewer, qtbot):
    viewer.model.set_image(box_phantom())
    axial = viewer.slice_view("axial")
    cx, cy = axial.world_to_display(viewer.model.position())
    qtbot.mousePress(axial.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     QPoint(int(cx + 80), int(cy)))
    qtbot.mouseMove(axial.canvas, QPoint(int(cx + 80), int(cy + 80)))  # a quarter-turn... by 45 degrees
    qtbot.mouseRelease(axial.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                       QPoint(int(cx + 80), int(cy + 80)))
    coronal = viewer.slice_view("coronal")
    normal = coronal.shown.normal
    assert np.degrees(np.arccos(abs(normal @ [0, 1, 0]))) == pytest.approx(45, abs=2)
    assert np.allclose(axial.shown.normal, [0, 0, 1])  # the view rotated in stays put
    assert "Oblique" in coronal.annotation()["upper_right"]
    qtbot.keyClick(axial.canvas, Qt.Key.Key_R)
    assert np.allclose(coronal.shown.normal, [0, 1, 0])
    assert np.allclose(viewer.model.position(), viewer.model.volume().center())


def test_hiding_identity_and_the_probe_on_hover(viewer, qtbot):
    viewer.model.set_image(box_phantom())
    axial = viewer.slice_view("axial")
    assert "Doe^Jane" in axial.annotation()["upper_left"] and "PID-0001" in axial.annotation()["upper_left"]
    viewer.model.set_hide_identity(True)
    assert "Doe^Jane" not in axial.annotation()["upper_left"] and "PID-0001" not in axial.annotation()["upper_left"]
    x, y = (int(c) + 7 for c in axial.world_to_display(viewer.model.position()))
    with qtbot.waitSignal(viewer.probe) as probe:
        qtbot.mouseMove(axial.canvas, QPoint(x, y))
    assert probe.args[0]["view"] == "axial" and np.allclose(probe.args[0]["lps"], axial.display_to_world(x, y))
    assert probe.args[0]["value"] == 200
    assert "HU" in axial.annotation()["lower_left"]


def test_cine_loops_through_slices(viewer, qtbot):
    viewer.model.set_image(box_phantom())
    axial = viewer.slice_view("axial")
    seen = set()
    viewer.positionChanged.connect(lambda _: seen.add(axial.slice_number()[0]))
    viewer.start_cine("axial", fps=50)
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=60_000)
    viewer.stop_cine()
    assert not viewer.cine_running


def test_slices_appear_while_the_volume_is_still_loading(viewer):
    full = box_phantom()
    loading = box_phantom()
    loading.array[...] = -1000  # preallocated, nothing read yet
    viewer.set_layout("1x3")
    viewer.model.set_image(loading)
    marker = full.index_to_world(MARKER_IJK)
    viewer.model.set_position(marker)
    marker_only(viewer)
    axial = viewer.slice_view("axial")
    assert len(white_pixels(axial.capture())) == 0
    loading.array[MARKER_IJK[2]] = full.array[MARKER_IJK[2]]  # the loader fills one slice in place
    viewer.model.voxels_modified()
    assert len(white_pixels(axial.capture())) > 0


def test_closing_releases_every_render_window_and_leaves_no_thread(qtbot):
    from widgets.viewer import Viewer

    before = set(threading.enumerate())  # threads of other tests may end meanwhile: only new ones count
    v = Viewer()
    qtbot.addWidget(v)
    v.resize(600, 600)
    v.show()
    v.model.set_image(box_phantom())
    v.model.set_image(box_phantom(), slot=1)
    views = v.visible_views()
    assert len(views) == 8
    windows = [view.render_window for view in views if hasattr(view, "render_window")]  # the 3D views'
    assert len(windows) == 2
    for window in windows:
        window.MakeCurrent()
        assert window.IsCurrent()
    v.close_views()
    assert all(view.closed for view in views)
    assert not any(window.IsCurrent() for window in windows)
    assert [t.name for t in threading.enumerate() if t not in before] == []
