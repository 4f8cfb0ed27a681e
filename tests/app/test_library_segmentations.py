"""The library browser lists the SEG and RTSTRUCT files under the series they were drawn on, and opens them.

Real objects from other tools imported into the window's real library: two
SEGs written by dcmqi on one series, an RTSTRUCT written by rt-utils on its
CT. The rows are checked against the files' headers read by pydicom; the
labels opened from the browser against dcmqi's NRRD label map (by LPS
position) and against the rt-utils contours filled by matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.dicom.test_rtstruct import expected_from_contours
from widgets.library_browser import KEY_ROLE

pytestmark = pytest.mark.gui


@pytest.fixture
def library_with_objects(qtbot, window, seg_samples, tmp_path):
    """The dcmqi 24x38x3 images with two SEGs, and the rt-utils CT with its RTSTRUCT, imported into the library."""
    dcmqi = seg_samples / "dcmqi"
    sources = [*(dcmqi / "24x38x3" / "image").iterdir(), dcmqi / "24x38x3" / "seg" / "label.seg",
               dcmqi / "sparse-labelmap-ppv5.dcm", *(seg_samples / "rt-utils").glob("*.dcm")]
    folder = tmp_path / "in"
    folder.mkdir()
    for n, path in enumerate(sources):
        (folder / f"{n}-{path.name}").symlink_to(path)
    with qtbot.waitSignal(window.libraryListed, timeout=120_000):
        window.import_folder(folder)
    return window, folder


def series_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def double_click(browser, item) -> None:
    browser.tree.scrollToItem(item)
    rect = browser.tree.visualItemRect(item)
    QTest.mouseClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # the press a
    QTest.mouseDClick(browser.tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # double-click needs


def test_seg_and_rtstruct_rows_under_their_series_open_with_the_images(qtbot, library_with_objects, seg_samples):
    window, folder = library_with_objects
    browser, controller = window.browser, window.segmentation
    images = series_of(next((seg_samples / "dcmqi" / "24x38x3" / "image").iterdir()))
    ct = series_of(seg_samples / "rt-utils" / "ct_1.dcm")
    seg = next(folder.glob("*-label.seg"))
    sparse = next(folder.glob("*-sparse-labelmap-ppv5.dcm"))
    rt = next(folder.glob("*-rt.dcm"))

    # the rows: one per file, under the series each references, with what its header says
    assert sorted(browser.label_objects(images)) == sorted([str(seg), str(sparse)])
    assert browser.label_objects(ct) == [str(rt)]
    for series, path in ((images, seg), (images, sparse), (ct, rt)):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        item = browser.object_item(series, str(path))
        count = len(ds.get("SegmentSequence") or ds.StructureSetROISequence)
        label = ds.get("SeriesDescription") or ds.StructureSetLabel
        assert item.text(0) == f"{label}: {count} segment{'' if count == 1 else 's'}"
        assert item.text(2) == ds.Modality
        date = ds.get("ContentDate") or ds.get("StructureSetDate")
        assert item.text(1) == f"{date[:4]}-{date[4:6]}-{date[6:]}"
        assert str(ds.Manufacturer) in item.toolTip(0)
    assert not any(series_of(p) in browser.series_uids() for p in (seg, sparse, rt))  # no rows as series alone

    # double-click the dcmqi SEG: its series loads, the labels lie where dcmqi's label map has them (LPS)
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        double_click(browser, browser.object_item(images, str(seg)))
    assert window.model.showing(images, loading=False)
    labels = controller.labels
    expected = sitk.ReadImage(str(seg_samples / "dcmqi" / "24x38x3" / "nrrd" / "label.nrrd"))
    values = sitk.GetArrayFromImage(expected)
    assert np.count_nonzero(values)
    for index in np.argwhere(values > 0):
        point = expected.TransformIndexToPhysicalPoint([int(v) for v in index[::-1]])
        i, j, k = np.rint(labels.volume.world_to_index(point)).astype(int)
        assert labels.array[k, j, i] != 0
    assert np.count_nonzero(labels.array) == np.count_nonzero(values)

    # the RTSTRUCT from its context menu: the CT replaces the images, its contours are the labels
    [action] = browser.context_menu(browser.object_item(ct, str(rt))).actions()
    assert action.text() == "Open with its images"
    with qtbot.waitSignal(controller.finished, timeout=60_000):
        action.trigger()
    assert window.model.showing(ct, loading=False)
    labels = controller.labels
    assert labels.volume.meta.modality == "RTSTRUCT"
    expected_rt = expected_from_contours(rt, window.model.volume())
    assert np.count_nonzero(expected_rt)
    assert np.array_equal(labels.array, expected_rt)


def import_alone(qtbot, window, tmp_path, path: Path) -> Path:
    """Import ``path`` into the library without the images it was drawn on."""
    folder = tmp_path / "alone"
    folder.mkdir()
    (folder / path.name).symlink_to(path)
    with qtbot.waitSignal(window.libraryListed, timeout=120_000):
        window.import_folder(folder)
    return folder / path.name


def test_a_seg_without_its_images_opens_on_its_own_geometry(qtbot, window, seg_samples, tmp_path):
    case = seg_samples / "dcmqi" / "24x38x3"
    seg = import_alone(qtbot, window, tmp_path, case / "seg" / "label.seg")
    browser, controller = window.browser, window.segmentation
    item = browser.object_item("", str(seg))
    assert "[images missing]" in item.text(0) and item.text(2) == "SEG"
    assert item.parent().data(0, KEY_ROLE) == pydicom.dcmread(seg, stop_before_pixels=True).StudyInstanceUID

    with qtbot.waitSignal(controller.finished, timeout=60_000):
        double_click(browser, item)
    labels, image = controller.labels, window.model.volume()
    assert labels is not None and image is not None
    assert "not in the library" in window.messages.item(window.messages.count() - 1).text()
    expected = sitk.ReadImage(str(case / "nrrd" / "label.nrrd"))
    values = sitk.GetArrayFromImage(expected)
    for index in np.argwhere(values > 0):  # dcmqi's label map and ours agree voxel by voxel in LPS
        point = expected.TransformIndexToPhysicalPoint([int(v) for v in index[::-1]])
        i, j, k = np.rint(labels.volume.world_to_index(point)).astype(int)
        assert labels.array[k, j, i] == values[tuple(index)]
        assert np.allclose(labels.volume.index_to_world([i, j, k]), point, atol=1e-3)
    assert np.count_nonzero(labels.array) == np.count_nonzero(values)
    assert np.array_equal(image.array, labels.array)  # the image shown is the labels' own, on the same grid
    assert np.allclose(image.index_to_world([0, 0, 0]), labels.volume.index_to_world([0, 0, 0]))


def test_an_rtstruct_without_its_images_is_refused_in_one_line(qtbot, window, seg_samples, tmp_path):
    rt = import_alone(qtbot, window, tmp_path, seg_samples / "rt-utils" / "rt.dcm")
    with qtbot.waitSignal(window.jobFailed, timeout=60_000) as failed:
        double_click(window.browser, window.browser.object_item("", str(rt)))
    assert "images are not loaded" in failed.args[0] and "\n" not in failed.args[0]
    assert window.model.volume() is None and window.segmentation.labels is None  # nothing half-loaded
