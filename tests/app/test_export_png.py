"""File > Export view as PNG: one view or the whole layout, as the user sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from tests.app.conftest import open_and_load
from workstation.app.main_window import VIEW_EXPORTS, MainWindow


def pixels(path: Path) -> np.ndarray:
    """The PNG's pixels as (h, w, 3) uint8, copied out before the QImage that owns them goes."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h).reshape(h, -1)
    return rows[:, :3 * w].reshape(h, w, 3).copy()


def test_views_and_layout_are_exported_as_the_pictures_on_screen(qtbot, window: MainWindow, demo_study: Path,
                                                                tmp_path: Path) -> None:
    open_and_load(qtbot, window, demo_study)
    window.set_layout("2x2")
    menu_labels = [a.text() for a in window.findChildren(type(window.menuBar().actions()[0]))
                   if a.text() in VIEW_EXPORTS.values()]
    assert sorted(menu_labels) == sorted(VIEW_EXPORTS.values())

    axial = pixels(window.export_view_png("axial", tmp_path / "axial.png"))
    view = window.viewer.slice_view("axial")
    assert np.array_equal(axial, view.capture())  # the file holds exactly the rendered frame
    assert len(np.unique(axial.reshape(-1, 3), axis=0)) > 20  # an image, not a blank

    sagittal = pixels(window.export_view_png("sagittal", tmp_path / "sagittal.png"))
    assert not np.array_equal(sagittal, axial)

    layout = pixels(window.export_view_png("layout", tmp_path / "layout.png"))
    assert layout.shape[:2] == (window.viewer.height(), window.viewer.width())
    top_left = view.mapTo(window.viewer, view.rect().topLeft())
    h, w = axial.shape[:2]
    patch = layout[top_left.y():top_left.y() + h, top_left.x():top_left.x() + w]
    assert np.array_equal(patch, axial)  # the axial view sits in the layout where it is on screen

    volume = pixels(window.export_view_png("3d", tmp_path / "3d.png"))
    assert volume.std() > 5  # the rendered head, not an empty scene
