"""The moving image's labels opened in the window (File menu, a job) and drawn through the registration transform.

The demo CT fused with its MR; a label map written by SimpleITK on the MR's
grid opens as the fused layer's labels and shows its segment at the fixed
point the transform maps onto the block (computed with numpy from the
affines); one on the CT's grid is refused with one line naming the file.
A DICOM SEG by dcmqi of the moving series opens as the map it was made from.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk

from tests.app.test_registration_ui import paired  # noqa: F401 - the fixture: demo CT fused with its MR
from tests.widgets.test_labels_layer import without_and_with
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress

pytestmark = pytest.mark.gui


def write_block(volume, path) -> np.ndarray:
    """A label map (1 in a central block) on ``volume``'s grid, written by SimpleITK; the block's centre in LPS."""
    k, j, i = volume.array.shape
    array = np.zeros(volume.array.shape, np.uint8)
    array[k // 2 - 8:k // 2 + 8, j // 2 - 15:j // 2 + 15, i // 2 - 15:i // 2 + 15] = 1
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(volume.to_sitk())
    sitk.WriteImage(image, str(path))
    return np.array(image.TransformContinuousIndexToPhysicalPoint([i // 2 - 0.5, j // 2 - 0.5, k // 2 - 0.5]))


def fill_shows(view, layer, lps: np.ndarray) -> bool:
    """Whether the pixel of ``view`` at ``lps`` shows the segment's fill blended over the image (layer hidden)."""
    return blended(*without_and_with(view, layer), view, layer, lps, 1.0)


def blended(image_only: np.ndarray, shown: np.ndarray, view, layer, lps: np.ndarray, scale: float) -> bool:
    """Whether the pixel at ``lps`` of ``shown`` is the segment's colour over ``image_only``'s at the segment's
    opacity times ``scale``."""
    x, y = (int(round(c)) for c in view.world_to_display(lps))
    segment = layer.labels.segment(1)
    alpha = segment.opacity * scale
    expected = alpha * np.asarray(segment.colour) + (1 - alpha) * image_only[y, x].astype(float)
    return bool(np.all(np.abs(shown[y, x].astype(float) - expected) <= 3))


def test_labels_of_the_moving_image_open_and_show_where_the_transform_maps_them(qtbot, paired, tmp_path):  # noqa: F811
    window, controller = paired
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "File")
    assert "Open labels on the moving image..." in [a.text().replace("&", "") for a in file_menu.actions()]
    centre = write_block(controller.moving.volume, tmp_path / "mr_labels.nii.gz")
    matrix = np.eye(4)
    matrix[:3, 3] = [10.0, -6.0, 4.0]  # fixed point x reads the moving image at x + shift
    controller.set_matrix(matrix)
    handle = controller.open_moving_labels(tmp_path / "mr_labels.nii.gz")
    with qtbot.waitSignal(handle.relay.finished, timeout=60_000):
        pass
    layer = controller.fused.labels
    assert layer is not None and int(layer.labels.array.sum()) == 16 * 30 * 30
    at_fixed = centre - matrix[:3, 3]
    window.viewer.model.set_crosshair_visible(False)  # it would cross the very pixel looked at
    window.viewer.model.set_position(at_fixed)
    view = window.viewer.slice_view("axial")
    assert fill_shows(view, layer, at_fixed)
    # the labels move with the transform: back to identity, the block shows at its own LPS position
    controller.set_matrix(np.eye(4))
    assert fill_shows(view, layer, centre * [1, 1, 0] + at_fixed * [0, 0, 1])  # on the axial slice shown
    assert not fill_shows(view, layer, at_fixed - [12.0, 0.0, 0.0])  # left of where the block lies now

    # the panel's controls: hidden, then shown at 40 % of each segment's opacity
    panel = controller.panel
    assert panel.labels_check.isEnabled() and panel.labels_opacity.isEnabled()
    inside = centre * [1, 1, 0] + at_fixed * [0, 0, 1]
    panel.labels_check.setChecked(False)
    image_only = view.capture()
    panel.labels_opacity.setValue(40)
    panel.labels_check.setChecked(True)
    assert blended(image_only, view.capture(), view, layer, inside, 0.4)
    assert not blended(image_only, view.capture(), view, layer, inside, 1.0)
    panel.labels_opacity.setValue(100)

    write_block(controller.fixed.volume, tmp_path / "ct_labels.nii.gz")  # another grid than the MR's
    handle = controller.open_moving_labels(tmp_path / "ct_labels.nii.gz")
    with qtbot.waitSignal(handle.relay.failed, timeout=60_000):
        pass
    assert "ct_labels.nii.gz" in window.messages.lines()[-1] and "another grid" in window.messages.lines()[-1]
    assert controller.fused.labels is layer


def test_a_dicom_seg_of_the_moving_series_opens_as_its_labels(qtbot, window, seg_samples):
    """dcmqi's SEG of its 24x38x3 images, opened on them as the moving image: the label map dcmqi wrote it from,
    read by SimpleITK, voxel for voxel and in LPS."""
    dcmqi = seg_samples / "dcmqi" / "24x38x3"
    [images] = load_volumes(no_progress, None, dcmqi / "image").volumes
    controller = window.registration
    controller.add_volume("fixed", "fixed", images)
    controller.add_volume("moving", "moving", replace(images, array=images.array.copy()))
    controller.set_pair("fixed", "moving")
    handle = controller.open_moving_labels(dcmqi / "seg" / "label.seg")
    with qtbot.waitSignal(handle.relay.finished, timeout=60_000):
        pass
    truth = sitk.ReadImage(str(dcmqi / "nrrd" / "label.nrrd"))
    labels = controller.fused.labels.labels
    assert np.array_equal(labels.array, sitk.GetArrayFromImage(truth))
    assert np.allclose(labels.volume.index_to_world([2, 3, 1]), truth.TransformIndexToPhysicalPoint([2, 3, 1]),
                       atol=1e-4)
    assert controller.fused.shown_labels is controller.fused.labels
