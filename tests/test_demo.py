"""The demo study: real DICOM files whose anatomy lies where the documented ground truth says.

The series are read back independently of the writer (pydicom for headers,
SimpleITK's ImageSeriesReader for voxels and geometry), and structures are
located in world coordinates, so a wrong position, orientation, slice order or
transform direction shows up as millimetres of error.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import UID, ExplicitVRLittleEndian

from workstation import demo, paths
from workstation.cli.main import main as cli_main
from workstation.errors import Cancelled
from workstation.jobs import CancelToken


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study written by the command line, as a user would."""
    folder = tmp_path_factory.mktemp("demo") / "study"
    done = subprocess.run([sys.executable, "-m", "workstation", "demo-data", str(folder)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{folder / 'CT'}: 144 CT files" in done.stdout
    return folder


def read_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.Cast(reader.Execute(), sitk.sitkFloat32)


@pytest.fixture(scope="module")
def ct_image(demo_folder: Path) -> sitk.Image:
    return read_series(demo_folder / "CT")


@pytest.fixture(scope="module")
def mr_image(demo_folder: Path) -> sitk.Image:
    return read_series(demo_folder / "MR")


def block(image: sitk.Image, point: np.ndarray, half_box_mm: tuple[float, float, float]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Voxel values and their LPS centres (from the image's own geometry) around an LPS point."""
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * half_box_mm + point
    index = np.array([image.TransformPhysicalPointToContinuousIndex(tuple(c)) for c in corners])
    low = np.clip(np.floor(index.min(axis=0)).astype(int), 0, None)
    high = np.minimum(np.ceil(index.max(axis=0)).astype(int) + 1, image.GetSize())
    k, j, i = np.meshgrid(*(np.arange(low[a], high[a]) for a in (2, 1, 0)), indexing="ij")
    matrix = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    world = np.stack([i, j, k], axis=-1) @ matrix.T + np.asarray(image.GetOrigin())
    values = sitk.GetArrayViewFromImage(image)[low[2]:high[2], low[1]:high[1], low[0]:high[0]]
    return values, world


def mean_near(image: sitk.Image, point: np.ndarray, radius_mm: float = 1.6) -> float:
    """Mean value of the voxels within ``radius_mm`` of an LPS point (averages the noise away)."""
    values, world = block(image, point, (radius_mm,) * 3)
    near = np.linalg.norm(world - point, axis=-1) <= radius_mm
    assert near.sum() >= 7, f"too few voxels near {point}"
    return float(values[near].mean())


def centroid(image: sitk.Image, point: np.ndarray, half_box_mm: tuple[float, float, float],
             low: float, high: float) -> np.ndarray:
    """LPS centroid of the voxels valued in [low, high] inside an LPS-aligned box around ``point``."""
    values, world = block(image, point, half_box_mm)
    box = np.all(np.abs(world - point) <= half_box_mm, axis=-1)
    chosen = box & (values >= low) & (values <= high)
    assert chosen.sum() > 50, f"no structure valued {low}..{high} near {point}"
    return world[chosen].mean(axis=0)


def test_files_are_explicit_vr_little_endian_dicom_with_valid_identity(demo_folder: Path) -> None:
    study_uids, frames = set(), {}
    for acq, series_uid in ((demo.CT, demo.CT_SERIES_UID), (demo.MR, demo.MR_SERIES_UID)):
        files = sorted((demo_folder / acq.folder).glob("*.dcm"))
        assert len(files) == acq.size[2]
        sop_uids = set()
        for path in files:
            assert path.read_bytes()[128:132] == b"DICM"
            ds = pydicom.dcmread(path)
            assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
            for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID):
                assert UID(uid).is_valid, uid
            assert ds.Modality == acq.modality and ds.SeriesInstanceUID == series_uid
            assert str(ds.PatientName) == "DEMO^PHANTOM" and ds.PatientPosition == "HFS"
            assert ds.SeriesDescription and ds.StudyDescription
            assert (ds.Rows, ds.Columns) == (acq.size[1], acq.size[0])
            assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
            sop_uids.add(ds.SOPInstanceUID)
            study_uids.add(ds.StudyInstanceUID)
            frames.setdefault(acq.modality, set()).add(ds.FrameOfReferenceUID)
        assert len(sop_uids) == len(files)
    assert study_uids == {demo.STUDY_UID}
    assert len(frames["CT"]) == len(frames["MR"]) == 1 and frames["CT"] != frames["MR"]


def test_headers_carry_rescale_and_window_presets(demo_folder: Path) -> None:
    ct = pydicom.dcmread(demo_folder / "CT" / "CT0001.dcm")
    assert (float(ct.RescaleSlope), float(ct.RescaleIntercept)) == (1.0, -1024.0)
    assert [float(c) for c in ct.WindowCenter] == [40.0, 600.0]
    assert [float(w) for w in ct.WindowWidth] == [80.0, 2800.0]
    mr = pydicom.dcmread(demo_folder / "MR" / "MR0001.dcm")
    assert "RescaleIntercept" not in mr and float(mr.WindowWidth) > 0
    assert mr.MRAcquisitionType == "3D"


def test_grids_differ_in_resolution_and_orientation(ct_image: sitk.Image, mr_image: sitk.Image) -> None:
    assert ct_image.GetSpacing() == pytest.approx((0.9, 0.9, 1.5))
    assert mr_image.GetSpacing() == pytest.approx((1.2, 1.2, 1.2))
    assert ct_image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    # sagittal: columns run posterior, rows inferior, slices from the patient's left to right
    assert mr_image.GetDirection() == pytest.approx((0, 0, -1, 1, 0, 0, 0, -1, 0))
    for image, acq in ((ct_image, demo.CT), (mr_image, demo.MR)):
        assert np.allclose(image.GetOrigin(), acq.origin, atol=1e-6)


def test_ct_hounsfield_units_by_region(ct_image: sitk.Image) -> None:
    c = demo.HEAD_CENTER
    corner = np.asarray(ct_image.TransformIndexToPhysicalPoint((3, 3, 3)))
    assert mean_near(ct_image, corner) == pytest.approx(-1000, abs=5)
    assert mean_near(ct_image, c + (0, 0, 94.5)) > 1000  # skull vault
    for side in ("ventricle_left", "ventricle_right"):
        assert mean_near(ct_image, demo.LANDMARKS_CT[side]) == pytest.approx(5, abs=3)
    assert mean_near(ct_image, c) == pytest.approx(26, abs=3)  # white matter between the ventricles
    assert mean_near(ct_image, c + (0, -70, 30)) == pytest.approx(38, abs=3)  # frontal grey matter
    assert mean_near(ct_image, c + (0, 0, -75)) == pytest.approx(45, abs=3)  # soft tissue of the face
    assert mean_near(ct_image, demo.LANDMARKS_CT["lesion"]) == pytest.approx(85, abs=3)


def test_mr_has_t1_contrast_at_the_same_anatomy(mr_image: sitk.Image) -> None:
    c = demo.HEAD_CENTER

    def at(offset: tuple[float, float, float]) -> float:
        return mean_near(mr_image, demo.ct_to_mr(c + offset), radius_mm=2.0)

    white, grey, csf = at((0, 0, 0)), at((0, -70, 30)), at((13, 5, 15))
    fat, bone, air = at((0, 0, 99.5)), at((0, 0, 94.5)), at((0, 0, 112))
    assert white > grey + 100 > csf + 200
    assert fat > white and bone < csf and air < 0.2 * csf


@pytest.mark.parametrize("name, half_box, ct_range, mr_range", [
    ("lesion", (11, 11, 11), (60, 400), (760, 2000)),
    ("ventricle_left", (9, 28, 13), (-40, 15), (0, 350)),
    ("ventricle_right", (9, 28, 13), (-40, 15), (0, 350)),
])
def test_landmarks_lie_where_the_ground_truth_says(ct_image: sitk.Image, mr_image: sitk.Image, name: str,
                                                   half_box: tuple, ct_range: tuple, mr_range: tuple) -> None:
    in_ct = centroid(ct_image, demo.LANDMARKS_CT[name], half_box, *ct_range)
    expected_mr = demo.ct_to_mr(demo.LANDMARKS_CT[name])
    # the box is centred on the expected point; a wrong transform moves the structure off centre
    in_mr = centroid(mr_image, expected_mr, half_box, *mr_range)
    assert np.linalg.norm(in_ct - demo.LANDMARKS_CT[name]) < 0.25
    assert np.linalg.norm(in_mr - expected_mr) < 0.25
    assert np.linalg.norm(expected_mr - demo.LANDMARKS_CT[name]) > 5  # the offset between the scans is real


def test_ground_truth_files_agree_with_the_code_and_the_series(demo_folder: Path) -> None:
    truth = demo.read_ground_truth(demo_folder)
    assert np.array_equal(truth["matrix_lps"], demo.MR_TO_CT_TRANSFORM)
    assert truth["fixed"]["series_uid"] == pydicom.dcmread(demo_folder / "CT" / "CT0001.dcm").SeriesInstanceUID
    assert truth["moving"]["series_uid"] == pydicom.dcmread(demo_folder / "MR" / "MR0001.dcm").SeriesInstanceUID
    rotation = truth["matrix_lps"][:3, :3]
    assert np.allclose(rotation @ rotation.T, np.eye(3)) and np.linalg.det(rotation) == pytest.approx(1)
    # SimpleITK's own transform file maps every landmark the same way (ITK convention: fixed CT -> moving MR)
    tfm = sitk.ReadTransform(str(demo_folder / "ground_truth.tfm"))
    for name, points in truth["landmarks"].items():
        assert np.allclose(tfm.TransformPoint(points["ct"]), points["mr"], atol=1e-9), name
        assert np.allclose(demo.ct_to_mr(points["ct"]), points["mr"], atol=1e-9), name
        assert np.allclose(demo.mr_to_ct(points["mr"]), points["ct"], atol=1e-9), name
    # the head centre only moves by the translation; its rotation turns about it
    assert np.allclose(demo.ct_to_mr(demo.HEAD_CENTER) - demo.HEAD_CENTER, truth["euler"]["translation_mm"])


def test_mr_resampled_through_the_true_transform_reproduces_the_phantom(mr_image: sitk.Image,
                                                                        demo_folder: Path) -> None:
    """The whole volume, not only landmarks: every MR voxel sits where the transform says."""
    reference = sitk.Image(100, 110, 100, sitk.sitkFloat32)  # 2 mm LPS grid over the head, CT frame
    reference.SetSpacing((2.0, 2.0, 2.0))
    reference.SetOrigin(tuple(demo.HEAD_CENTER - (99.0, 118.0, 99.0)))
    k, j, i = np.meshgrid(*(np.arange(n) for n in reversed(reference.GetSize())), indexing="ij")
    world = np.stack([i, j, k], axis=-1) * 2.0 + np.asarray(reference.GetOrigin())
    expected = np.array([t.mr_t1 for t in demo.TISSUES])[demo.tissue_labels(world)].ravel()

    def correlation(transform: sitk.Transform) -> float:
        resampled = sitk.GetArrayFromImage(sitk.Resample(mr_image, reference, transform, sitk.sitkLinear, 0.0))
        return float(np.corrcoef(resampled.ravel(), expected)[0, 1])

    truth = sitk.ReadTransform(str(demo_folder / "ground_truth.tfm"))
    assert correlation(truth) > 0.95
    assert correlation(sitk.Transform()) < 0.85  # the scans really are apart
    assert correlation(truth.GetInverse()) < 0.85  # and the direction of the transform matters


def sha256_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ensure_demo_study_rebuilds_a_stale_one_identically_and_then_reuses_it(demo_folder: Path) -> None:
    stale = paths.demo_dir()
    stale.mkdir(parents=True)
    (stale / demo.GROUND_TRUTH_FILE).write_text('{"demo_version": 0}')
    folder = demo.ensure_demo_study()
    assert folder == paths.demo_dir()
    assert sha256_tree(folder) == sha256_tree(demo_folder)  # reproducible: same pixels, UIDs, bytes
    first = (folder / "CT" / "CT0001.dcm").stat().st_mtime_ns
    assert demo.ensure_demo_study() == folder
    assert (folder / "CT" / "CT0001.dcm").stat().st_mtime_ns == first
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_cancelled_write_leaves_nothing_behind(tmp_path: Path) -> None:
    cancel = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.3:
            cancel.set()

    with pytest.raises(Cancelled):
        demo.write_demo_study(progress, cancel, tmp_path / "study")
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_folder_that_is_not_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert cli_main(["demo-data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"workstation demo-data: {tmp_path}: folder exists and is not empty"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
