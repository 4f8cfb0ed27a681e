"""Series assembly: sorting, spacing, splits, 4D, gaps, tilt, multi-frame geometry.

Series are written with pydicom into tmp_path (real files, real header
reader); enhanced and legacy multi-frame objects come from pydicom-data.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from synthetic_series import axial, pixels_of, write_series

from workstation.dicom.assemble import assemble
from workstation.dicom.header import read_header
from workstation.dicom.load import load_plan, load_volumes, plan_volumes
from workstation.errors import Skipped
from workstation.jobs import no_progress


def _voxel_centre(position: list[float], orientation: list[float], spacing: list[float], i: int, j: int) -> np.ndarray:
    """Where DICOM puts pixel (column i, row j): position + i * column spacing * row dir + j * row spacing * col dir."""
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    return np.asarray(position) + i * spacing[1] * row + j * spacing[0] * col


def _check_every_file_in_place(volume, paths: list[Path], t: int = 0) -> None:
    """Every file's pixels sit at the world positions its header gives, with its own values."""
    for path in paths:
        ds = pydicom.dcmread(path)
        for i, j in ((0, 0), (15, 0), (0, 15), (7, 11)):
            world = _voxel_centre(ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, i, j)
            index = volume.world_to_index(world)
            assert np.allclose(index, np.rint(index), atol=1e-6), (path, index)
            assert volume.value_at(world, t) == ds.pixel_array[j, i]


def test_sorted_along_the_normal_with_spacing_from_positions(tmp_path: Path) -> None:
    tilt = math.radians(30)
    row, col = [1.0, 0.0, 0.0], [0.0, math.cos(tilt), math.sin(tilt)]
    normal = np.cross(row, col)
    positions = [list(np.array([3.0, -2.0, 5.0]) + n * 2.5 * normal) for n in range(6)]
    # instance numbers run against the positions, and SliceThickness (9 mm) is not the spacing
    paths = write_series(tmp_path, positions, orientation=row + col, instances=[6, 5, 4, 3, 2, 1])
    [plan] = plan_volumes(no_progress, None, tmp_path)
    assert plan.shape == (6, 16, 16)
    np.testing.assert_allclose(plan.spacing, [0.75, 0.5, 2.5], atol=1e-9)
    np.testing.assert_allclose(plan.origin, positions[0], atol=1e-9)
    np.testing.assert_allclose(plan.direction, np.column_stack([row, col, normal]), atol=1e-9)
    assert plan.warnings == []
    volume = load_plan(no_progress, None, plan)
    _check_every_file_in_place(volume, paths)


def test_missing_slices_are_named_and_filled(tmp_path: Path) -> None:
    positions = axial(10)
    kept = [p for n, p in enumerate(positions) if n not in (4, 5)]
    instances = [n + 1 for n in range(10) if n not in (4, 5)]
    paths = write_series(tmp_path, kept, instances=instances)
    [plan] = plan_volumes(no_progress, None, tmp_path)
    assert plan.slices == 10
    assert plan.spacing[2] == pytest.approx(2.5)
    [warning] = plan.warnings
    assert "2 missing slice(s) between instance 4 and instance 7" in warning and "gap 7.5 mm" in warning
    volume = load_plan(no_progress, None, plan)
    _check_every_file_in_place(volume, paths)
    lowest = min(pixels_of(n).min() for n in instances)
    assert (volume.array[4] == lowest).all() and (volume.array[5] == lowest).all()
    assert volume.meta.warnings == plan.warnings


def test_non_uniform_spacing_is_reported_with_the_slices_and_amounts(tmp_path: Path) -> None:
    positions = axial(6)
    for p in positions[3:]:
        p[2] += 0.5  # one step of 3.0 mm among steps of 2.5 mm
    write_series(tmp_path, positions)
    [plan] = plan_volumes(no_progress, None, tmp_path)
    [warning] = plan.warnings
    assert "non-uniform slice spacing" in warning
    assert "3 mm between instance 3 and instance 4" in warning
    assert plan.spacing[2] == pytest.approx(13.0 / 5)  # mean step from first to last position


def test_spacing_no_uniform_grid_holds_is_refused_in_one_line(tmp_path: Path) -> None:
    """Slices 2.5 mm apart with one step of 8.5 mm: the mean step is 3.7 mm and the uniform grid would put
    slices 2.4 mm (more than half a slice) from where the scanner put them."""
    positions = axial(6)
    for p in positions[3:]:
        p[2] += 6.0
    paths = write_series(tmp_path, positions)
    skipped: list[Skipped] = []
    assert plan_volumes(no_progress, None, tmp_path, skipped=skipped) == []
    [entry] = skipped
    assert "no uniform grid holds these slices" in entry.reason and "\n" not in entry.reason
    assert entry.path in {str(p) for p in paths}


def test_an_image_without_position_in_a_placed_series_is_left_out(tmp_path: Path) -> None:
    def drop_position(ds: pydicom.Dataset, n: int) -> None:
        if n == 4:  # the last: the other four stay a gapless stack
            del ds.ImagePositionPatient

    paths = write_series(tmp_path, axial(5), edit=drop_position)
    skipped: list[Skipped] = []
    [plan] = plan_volumes(no_progress, None, tmp_path, skipped=skipped)
    assert plan.slices == 4 and not any("nominal" in w for w in plan.warnings)
    assert len(skipped) == 1 and "no ImagePositionPatient" in skipped[0].reason
    assert skipped[0].path == str(paths[4])
    volume = load_plan(no_progress, None, plan)
    _check_every_file_in_place(volume, paths[:4])


def test_gantry_tilt_keeps_every_voxel_where_the_scanner_put_it(tmp_path: Path) -> None:
    tilt = math.radians(15)
    orientation = [1.0, 0.0, 0.0, 0.0, math.cos(tilt), -math.sin(tilt)]
    positions = axial(8, step=1.25)  # the table moves along z; the slices are tilted
    paths = write_series(tmp_path, positions, orientation=orientation)
    [plan] = plan_volumes(no_progress, None, tmp_path)
    [warning] = plan.warnings
    assert "gantry tilt 15.00 degrees" in warning and "sheared" in warning
    np.testing.assert_allclose(plan.direction[:, 2], [0, 0, 1], atol=1e-12)
    assert plan.spacing[2] == pytest.approx(1.25)
    volume = load_plan(no_progress, None, plan)
    _check_every_file_in_place(volume, paths)


def test_a_series_splits_where_orientation_or_size_differ(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "axial", axial(4), series_uid=uid)
    write_series(tmp_path / "sagittal", [[n * 3.0, 0, 0] for n in range(3)], orientation=[0, 1, 0, 0, 0, -1],
                 series_uid=uid, instances=[11, 12, 13])
    write_series(tmp_path / "small", axial(2, z0=40), series_uid=uid, rows=8, columns=8, instances=[21, 22])
    plans = plan_volumes(no_progress, None, tmp_path)
    assert sorted(p.shape for p in plans) == [(2, 8, 8), (3, 16, 16), (4, 16, 16)]
    for plan in plans:
        assert plan.series_uid == uid
        assert plan.warnings[0] == "series split into 3 volumes: they differ in image size, orientation"


def test_echoes_become_a_fourth_axis(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    first = write_series(tmp_path / "e1", axial(5), series_uid=uid, edit=lambda ds, n: setattr(ds, "EchoNumbers", 1))
    second = write_series(tmp_path / "e2", axial(5), series_uid=uid, instances=range(6, 11),
                          edit=lambda ds, n: setattr(ds, "EchoNumbers", 2))
    [plan] = plan_volumes(no_progress, None, tmp_path)
    assert plan.shape == (2, 5, 16, 16) and plan.size == [16, 16, 5, 2]
    volume = load_plan(no_progress, None, plan)
    _check_every_file_in_place(volume, first, t=0)
    _check_every_file_in_place(volume, second, t=1)


def test_dynamic_repeats_at_identical_positions_become_time_points(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    repeats = []
    for r in range(3):
        def stamp(ds: pydicom.Dataset, n: int, r: int = r) -> None:
            ds.AcquisitionTime = f"1200{r:02}"
        # instance numbers run backwards in time, so only the acquisition time orders the repeats
        repeats.append(write_series(tmp_path / f"r{r}", axial(4), series_uid=uid,
                                    instances=[40 - 10 * r + n for n in range(4)], edit=stamp))
    [plan] = plan_volumes(no_progress, None, tmp_path)
    assert plan.shape == (3, 4, 16, 16)
    volume = load_plan(no_progress, None, plan)
    for t, paths in enumerate(repeats):
        _check_every_file_in_place(volume, paths, t=t)


def test_per_slice_acquisition_numbers_do_not_split_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, axial(5), edit=lambda ds, n: setattr(ds, "AcquisitionNumber", n + 1))
    [plan] = plan_volumes(no_progress, None, tmp_path)
    assert plan.shape == (5, 16, 16)


def test_localizers_are_left_out_and_said_so(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "stack", axial(5), series_uid=uid)
    [scout] = write_series(tmp_path / "scout", [[0, 0, 0]], orientation=[0, 1, 0, 0, 0, -1], series_uid=uid,
                           instances=[99], edit=lambda ds, n: setattr(ds, "ImageType", ["ORIGINAL", "PRIMARY",
                                                                                        "LOCALIZER"]))
    skipped: list[Skipped] = []
    [plan] = plan_volumes(no_progress, None, tmp_path, skipped=skipped)
    assert plan.shape == (5, 16, 16)
    assert [str(entry) for entry in skipped] == [f"{scout}: localizer image left out of the volumes"]


def test_duplicate_instances_are_read_once(tmp_path: Path) -> None:
    [path, *_] = write_series(tmp_path / "a", axial(3))
    copy = tmp_path / "b" / "copy.dcm"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    skipped: list[Skipped] = []
    [plan] = plan_volumes(no_progress, None, tmp_path, skipped=skipped)
    assert plan.slices == 3
    assert len(skipped) == 1 and "duplicate of" in skipped[0].reason and "same SOP Instance UID" in skipped[0].reason


def test_enhanced_ct_uses_its_per_frame_functional_groups() -> None:
    path = get_testdata_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    [plan] = assemble([read_header(path)])
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    spacing = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
    positions = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
                 for f in ds.PerFrameFunctionalGroupsSequence]
    normal = np.cross(iop[:3], iop[3:])
    order = np.argsort([p @ normal for p in positions])
    assert plan.shape == (2, 512, 512)
    np.testing.assert_allclose(plan.origin, positions[order[0]])
    np.testing.assert_allclose(plan.direction[:, :2], np.column_stack([iop[:3], iop[3:]]))
    np.testing.assert_allclose(plan.spacing[:2], [spacing[1], spacing[0]])
    np.testing.assert_allclose(plan.spacing[2], np.linalg.norm(positions[1] - positions[0]))
    volume = load_plan(no_progress, None, plan)
    slope = float(shared.PixelValueTransformationSequence[0].RescaleSlope)
    intercept = float(shared.PixelValueTransformationSequence[0].RescaleIntercept)
    for k, frame in enumerate(order):
        np.testing.assert_array_equal(volume.array[k], ds.pixel_array[frame] * slope + intercept)
    assert volume.meta.units == "HU" and volume.array.dtype == np.int16
    assert [(p.center, p.width) for p in volume.meta.window_presets] == [(49.0, 102.0)]


def test_legacy_multiframe_rt_dose_uses_the_grid_frame_offsets() -> None:
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    [plan] = assemble([read_header(path)])
    assert plan.shape == (15, 10, 10)
    np.testing.assert_allclose(plan.origin, [float(v) for v in ds.ImagePositionPatient])
    assert plan.spacing[2] == pytest.approx(5.0)
    volume = load_plan(no_progress, None, plan)
    assert volume.array.dtype == np.float32
    expected = (ds.pixel_array.astype(np.float32) * np.float32(float(ds.DoseGridScaling)))
    np.testing.assert_array_equal(volume.array, expected)


def test_a_multiframe_without_geometry_gets_a_nominal_grid_and_says_so() -> None:
    path = get_testdata_file("emri_small.dcm")
    result = load_volumes(no_progress, None, path)
    [volume] = result.volumes
    assert volume.array.shape == (10, 64, 64)
    np.testing.assert_array_equal(volume.array, pydicom.dcmread(path).pixel_array)
    assert any("nominal geometry" in w for w in volume.meta.warnings)


def test_decubitus_positions_are_sagittal_stacks(decubitus: Path) -> None:
    from workstation import geometry

    for position in ("HFS", "HFP", "HFDR", "HFDL"):
        [plan] = plan_volumes(no_progress, None, decubitus / position)
        assert plan.shape == (35, 256, 256)
        assert plan.reference.patient_position == position
        assert geometry.axis_codes(plan.affine) == "PIR"  # i posterior, j inferior, k right: sagittal slices


def test_an_enhanced_ct_with_an_unplaced_frame_is_refused_in_one_line(tmp_path: Path) -> None:
    """Enhanced CT must place every frame (type 1); stacking them at a nominal place would invent a volume."""
    ds = pydicom.dcmread(get_testdata_file("eCT_Supplemental.dcm"))
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    path = tmp_path / "ect.dcm"
    ds.save_as(path)
    skipped: list[Skipped] = []
    assert assemble([read_header(path)], skipped) == []
    [entry] = skipped
    assert entry.path == str(path) and "1 of 2 frames have no Plane Position" in entry.reason
    assert "\n" not in str(entry)
