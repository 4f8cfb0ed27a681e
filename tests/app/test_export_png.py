"""File > Export view as PNG: one view or the whole layout, as the user sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PySide6.QtGui import QImage

from tests.app.conftest import open_and_load
from workstation.app.main_window import VIEW_EXPORTS, MainWindow


def pixels(path: Path) -> np.ndarray:
    """The PNG's pixels as (h, w, 3) uint8, copied out before the QImage that owns them goes."""
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB888)
    h, w = image.height(), image.width()
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h).reshape(h, -1)
    return rows[:, :3 * w].reshape(h, w, 3).copy()


def _slice_through_window(folder: Path, view, png: np.ndarray, center: float, width: float):
    """(expected, found) grey levels at the voxel centres of the shown axial slice, the expected ones from pydicom.

    The DICOM file of the slice (the n-th by position, n the view's slice
    number), its stored values through RescaleSlope/Intercept and the window
    as numpy computes it; the pixel under each voxel centre in the PNG.
    """
    datasets = sorted((pydicom.dcmread(f) for f in folder.iterdir()), key=lambda d: float(d.ImagePositionPatient[2]))
    ds = datasets[view.slice_number()[0] - 1]
    hu = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    grey = np.clip((hu - (center - width / 2)) / width, 0.0, 1.0) * 255.0
    origin = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
    along_row, along_column = np.asarray(ds.ImageOrientationPatient, dtype=np.float64).reshape(2, 3)
    row_spacing, column_spacing = map(float, ds.PixelSpacing)
    rows, columns = np.mgrid[8:ds.Rows - 8:3, 8:ds.Columns - 8:3]
    expected, found = [], []
    for r, c in zip(rows.ravel(), columns.ravel(), strict=True):
        lps = origin + c * column_spacing * along_row + r * row_spacing * along_column
        x, y = (int(round(v)) for v in view.world_to_display(lps))
        if 0 <= y < png.shape[0] and 0 <= x < png.shape[1]:
            expected.append(grey[r, c])
            found.append(float(png[y, x, 0]))
    assert len(found) > 1000, "the slice is not on screen"
    return np.asarray(expected), np.asarray(found)


def test_views_and_layout_are_exported_as_the_pictures_on_screen(qtbot, window: MainWindow, demo_study: Path,
                                                                tmp_path: Path) -> None:
    open_and_load(qtbot, window, demo_study)
    window.set_layout("2x2")
    menu_labels = [a.text() for a in window.findChildren(type(window.menuBar().actions()[0]))
                   if a.text() in VIEW_EXPORTS.values()]
    assert sorted(menu_labels) == sorted(VIEW_EXPORTS.values())

    view = window.viewer.slice_view("axial")
    window.viewer.model.set_interpolation(False)  # each voxel drawn as its own value
    window.viewer.model.set_crosshair_visible(False)  # nothing drawn over the image
    window.viewer.model.set_annotations_visible(False)
    window.viewer.model.set_window(40.0, 400.0)  # brain window: the phantom's tissues spread over the grey levels
    axial = pixels(window.export_view_png("axial", tmp_path / "axial.png"))
    assert len(np.unique(axial.reshape(-1, 3), axis=0)) > 20  # an image, not a blank
    expected, found = _slice_through_window(demo_study / "CT", view, axial, center=40.0, width=400.0)
    assert np.abs(expected - found).max() <= 1.0  # VTK's window to 8 bits rounds within one grey level

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
