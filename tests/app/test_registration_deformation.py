"""A deformable result in the real window, on a crop of the cirs MR warped by a known B-spline field (issue 17).

The result is built from the known transform (``registration.synthetic.smooth_warp``) rather than registered, to
keep the test fast: what is checked is what the window shows of it. Each figure is checked against SimpleITK
called here directly (a resampling, a displacement field and its Jacobian determinant on a grid of the test's own,
``TransformPoint`` differences), never against the code's own output.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration import synthetic
from registration.evaluation import body_points
from workstation.app.registration_controller import RegistrationController
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress
from workstation.labels import LabelMap, default_segment
from workstation.viewer_model.layers import LabelsLayer
from workstation.volume import Volume

pytestmark = pytest.mark.gui

GRID_LINES_MM = 10.0  # the warped grid's line spacing (registration_jobs.GRID_LINE_SPACING_MM)


@pytest.fixture(scope="module")
def known_warp(cirs_mr: Path) -> tuple[Volume, Volume, sitk.Transform]:
    """(fixed, moving, truth): a 60 mm crop of the MR (moving), and it warped (fixed) by a 3 mm mean smooth field."""
    [mr] = load_volumes(no_progress, None, cirs_mr).volumes
    moving = synthetic.crop(mr, body_points(mr).mean(axis=0), (60.0, 60.0, 60.0), description="cirs MR crop")
    warp = synthetic.smooth_warp(moving, seed=7, grid_spacing_mm=30.0, mean_mm=3.0,
                                 rigid=synthetic.rigid_matrix(2.0, [0, 0, 1], [1.0, -1.0, 0.5], moving.center()))
    return warp.warped, moving, warp.truth


@pytest.fixture
def paired(window, known_warp) -> RegistrationController:
    """The window's registration with the warped crop fixed and the crop moving, through the identity."""
    fixed, moving, _truth = known_warp
    controller: RegistrationController = window.registration
    controller.add_volume("fixed", "warped crop", fixed)
    controller.add_volume("moving", "crop", moving)
    controller.set_pair("fixed", "moving")
    return controller


@pytest.fixture
def shown(qtbot, paired, known_warp):
    controller, truth = paired, known_warp[2]
    with qtbot.waitSignal(controller.deformationShown, timeout=120_000) as done:
        controller.show_deformation(truth)
    return controller, done.args[0]


def jacobian_by_sitk(truth: sitk.Transform, point: np.ndarray, spacing: np.ndarray) -> float:
    """SimpleITK's DisplacementFieldJacobianDeterminant at ``point``, on a 3x3x3 field of ``spacing`` about it."""
    origin = [float(p - s) for p, s in zip(point, spacing, strict=True)]
    field = sitk.TransformToDisplacementField(truth, sitk.sitkVectorFloat64, [3, 3, 3], origin,
                                              [float(s) for s in spacing])
    return float(sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(field, True))[1, 1, 1])


def jacobian_by_differences(truth: sitk.Transform, point: np.ndarray, h: float = 0.05) -> float:
    """det(dT/dx) from central differences of ``TransformPoint``: no displacement field at all."""
    columns = [(np.subtract(truth.TransformPoint(tuple(point + h * e)), truth.TransformPoint(tuple(point - h * e))))
               / (2 * h) for e in np.eye(3)]
    return float(np.linalg.det(np.stack(columns, axis=1)))


def test_the_fused_view_shows_the_moving_image_through_the_whole_transform(shown, known_warp, tmp_path, qtbot):
    controller, views = shown
    fixed, moving, truth = known_warp
    fused = controller.fused
    np.testing.assert_array_equal(fused.matrix, np.eye(4))
    expected = sitk.Resample(moving.to_sitk(), fixed.to_sitk(), truth, sitk.sitkLinear, float(moving.array.min()),
                             sitk.sitkFloat32)
    np.testing.assert_allclose(fused.volume.array, sitk.GetArrayFromImage(expected), atol=1e-3)
    np.testing.assert_allclose(fused.volume.affine, fixed.affine)
    assert all(layer.fused is fused for layer in controller.fusion.layers.values())  # the views draw it
    linear = sitk.Resample(moving.to_sitk(), fixed.to_sitk(), sitk.AffineTransform(3), sitk.sitkLinear, 0.0,
                           sitk.sitkFloat32)
    assert np.abs(fused.volume.array - sitk.GetArrayFromImage(linear)).mean() > 1.0  # the warp shows

    written = sitk.ReadTransform(str(controller.export_transform(tmp_path / "deformable.h5")))
    for p in fixed.index_to_world(np.array([[5, 7, 9], [30, 30, 30], [50, 41, 22]])):
        np.testing.assert_allclose(written.TransformPoint(tuple(p)), truth.TransformPoint(tuple(p)), atol=1e-6)
    with qtbot.waitSignal(controller.exported, timeout=120_000) as exported:
        controller.export_nifti(tmp_path / "warped.nii.gz")
    np.testing.assert_allclose(sitk.GetArrayFromImage(sitk.ReadImage(str(exported.args[0]))),
                               sitk.GetArrayFromImage(expected), atol=1e-3)

    controller.nudge(np.eye(4))  # any change of the transform goes back to the linear display
    assert controller.fused.volume is moving and controller.deformation is None
    assert controller.panel.deformation_label.text() == "The shown transform is linear."


def test_the_maps_are_colour_overlays_with_sitk_values_and_the_folding_count(shown, known_warp):
    controller, views = shown
    _fixed, _moving, truth = known_warp
    panel = controller.panel
    panel.overlay_combo.setCurrentIndex(panel.overlay_combo.findData("jacobian"))
    jacobian = controller.fused.volume
    assert jacobian is views.jacobian and controller.fused.settings.mode == "overlay"
    assert controller.fused.settings.overlay_colormap == "Rainbow"
    rng = np.random.default_rng(3)
    ijk = rng.integers(2, np.asarray(jacobian.shape_ijk) - 2, size=(12, 3))
    points = jacobian.index_to_world(ijk)
    spacing = jacobian.spacing
    for (i, j, k), p in zip(ijk, points, strict=True):
        value = float(jacobian.array[k, j, i])
        assert value == pytest.approx(jacobian_by_sitk(truth, p, spacing), abs=1e-4)
        assert value == pytest.approx(jacobian_by_differences(truth, p), abs=0.05)
    window = controller.fused.settings.moving_window
    controller.fusion.render()  # the axial view draws the map in colour over the grey fixed image
    rgb = controller.fusion.layers["axial"].rgb.astype(int)
    coloured = (rgb[..., 0] != rgb[..., 1]) | (rgb[..., 1] != rgb[..., 2])
    assert coloured.mean() > 0.25
    assert window.lower < float(jacobian.array.min()) and window.upper > float(jacobian.array.max())

    panel.overlay_combo.setCurrentIndex(panel.overlay_combo.findData("displacement"))
    displacement = controller.fused.volume
    assert displacement is views.displacement and controller.fused.settings.mode == "overlay"
    for (i, j, k), p in zip(ijk, points, strict=True):
        known = np.linalg.norm(np.subtract(truth.TransformPoint(tuple(p)), p))
        assert float(displacement.array[k, j, i]) == pytest.approx(known, rel=1e-5, abs=1e-4)
    assert 1.0 < float(np.mean(displacement.array)) < 6.0  # a 3 mm mean warp plus a small rigid motion

    # this seeded field folds space in places: the panel's count is SimpleITK's over the whole map
    padded = sitk.ConstantPad(jacobian.to_sitk(), [1, 1, 1], [1, 1, 1])
    field = sitk.TransformToDisplacementField(truth, sitk.sitkVectorFloat64, padded.GetSize(), padded.GetOrigin(),
                                              padded.GetSpacing(), padded.GetDirection())
    determinant = sitk.GetArrayFromImage(sitk.DisplacementFieldJacobianDeterminant(field, True))[1:-1, 1:-1, 1:-1]
    folded = int(np.count_nonzero(determinant <= 0))
    assert folded > 0
    assert f"folding: {folded} of {determinant.size} voxels" in panel.deformation_label.text()
    panel.overlay_combo.setCurrentIndex(panel.overlay_combo.findData("none"))
    assert controller.fused.volume is views.warped and controller.fused.settings.mode == "blend"


def test_the_warped_grid_lies_where_the_transform_sends_the_moving_grid_lines(shown, known_warp):
    controller, views = shown
    fixed, moving, truth = known_warp
    controller.panel.grid_check.setChecked(True)
    gridded = controller.fused.volume
    assert gridded is views.gridded
    line_value = float(moving.array.max())
    rng = np.random.default_rng(5)
    lines_grid = views.jacobian  # lines are drawn on the maps' grid, then taken to the fixed grid by nearest voxel
    width = max(lines_grid.spacing)
    ijk = rng.integers(0, np.asarray(fixed.shape_ijk), size=(400, 3))
    checked = on_lines = 0
    for (i, j, k), x in zip(ijk, fixed.index_to_world(ijk), strict=True):
        nearest = np.clip(np.rint(lines_grid.world_to_index(x)), 0, np.asarray(lines_grid.shape_ijk) - 1)
        moved = np.asarray(truth.TransformPoint(tuple(lines_grid.index_to_world(nearest))))
        offset = np.abs((moved + GRID_LINES_MM / 2) % GRID_LINES_MM - GRID_LINES_MM / 2)
        if np.any(np.abs(offset - width / 2) < 1e-3) or views.warped.array[k, j, i] == line_value:
            continue  # on a line's very edge, or the image itself is at the line value
        on_line = bool(np.any(offset <= width / 2))
        assert (gridded.array[k, j, i] == line_value) == on_line
        checked += 1
        on_lines += on_line
    assert checked > 300 and 0.2 < on_lines / checked < 0.7  # 2 mm lines every 10 mm on three axes: ~49 %


def test_a_bspline_run_from_the_panel_ends_showing_its_deformation(qtbot, paired, known_warp):
    """The wiring: a ``bspline-deformable`` run's result is shown through its whole transform, without a click."""
    fixed, moving, _truth = known_warp
    controller = paired
    controller.panel.preset_combo.setCurrentText("bspline-deformable")
    controller.panel.init_combo.setCurrentText("Scanner placement")
    with qtbot.waitSignals([controller.runFinished, controller.deformationShown], timeout=600_000):
        controller.panel.run_button.click()
    assert controller.fused.volume is controller.deformation.warped
    np.testing.assert_array_equal(controller.fused.matrix, np.eye(4))
    assert controller.panel.deformation_label.text().startswith("folding: ")
    inner = (slice(8, -8),) * 3  # away from the crop's border, where the warp reads outside the moving crop

    def error(transform: sitk.Transform) -> float:
        resampled = sitk.Resample(moving.to_sitk(), fixed.to_sitk(), transform, sitk.sitkLinear,
                                  float(moving.array.min()), sitk.sitkFloat32)
        return float(np.abs(sitk.GetArrayFromImage(resampled) - fixed.array)[inner].mean())

    linear = sitk.AffineTransform(3)
    linear.SetMatrix(tuple(controller.matrix[:3, :3].ravel()))
    linear.SetTranslation(tuple(controller.matrix[:3, 3]))
    start_error, linear_error = error(sitk.Transform()), error(linear)
    shown_error = float(np.abs(controller.fused.volume.array - fixed.array)[inner].mean())
    print(f"\nbspline-deformable, warped crop: mean |shown - fixed| {shown_error:.1f}; through the linear part only "
          f"{linear_error:.1f}; at the start {start_error:.1f}")
    assert shown_error < 0.8 * start_error and shown_error < linear_error


def test_a_change_of_the_transform_cancels_the_pending_deformation(qtbot, paired, known_warp):
    _fixed, moving, truth = known_warp
    controller = paired
    handle = controller.show_deformation(truth)
    controller.nudge(np.eye(4))
    assert handle.job.cancel.is_set() and controller.deformation_job is None
    qtbot.waitUntil(lambda: not handle.running, timeout=120_000)
    qtbot.wait(0)  # deliver the job's queued outcome: it must be ignored
    assert controller.deformation is None and controller.fused.volume is moving
    assert controller.panel.deformation_label.text() == "The shown transform is linear."


def test_the_moving_labels_are_shown_through_the_whole_transform(qtbot, paired, known_warp):
    """Labels of the moving image, set before the deformation is shown, come out as SimpleITK resamples them."""
    controller = paired
    fixed, moving, truth = known_warp
    block = np.zeros(moving.array.shape, np.uint8)
    block[20:40, 15:35, 25:45] = 1
    labels = LabelMap(replace(moving, array=block), [default_segment(1)])
    controller.fused.set_labels(LabelsLayer(labels))
    with qtbot.waitSignal(controller.deformationShown, timeout=120_000):
        controller.show_deformation(truth)
    shown = controller.fused.shown_labels
    assert shown is not None and shown is not controller.fused.labels
    expected = sitk.Resample(labels.volume.to_sitk(), fixed.to_sitk(), truth, sitk.sitkNearestNeighbor, 0.0)
    np.testing.assert_array_equal(shown.labels.array, sitk.GetArrayFromImage(expected))
    np.testing.assert_allclose(shown.labels.volume.affine, fixed.affine)
    linear = sitk.Resample(labels.volume.to_sitk(), fixed.to_sitk(), sitk.AffineTransform(3),
                           sitk.sitkNearestNeighbor, 0.0)
    assert (shown.labels.array != sitk.GetArrayFromImage(linear)).sum() > 100  # the warp moved them
    view = controller.fusion.layers["axial"].view
    hidden_then_shown = []
    for visible in (False, True):
        shown.set_visible(visible)
        hidden_then_shown.append(view.capture())
    assert (hidden_then_shown[0] != hidden_then_shown[1]).any()  # the views draw them

    controller.nudge(np.eye(4))  # back to the linear display: the moving labels themselves, through the matrix
    assert controller.fused.shown_labels is controller.fused.labels
