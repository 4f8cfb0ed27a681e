"""``workstation info`` and ``workstation convert`` as other tools call them: fresh processes, real data.

Expected geometry is computed here from the DICOM headers with pydicom, not
from the code under test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from synthetic_series import axial, write_series  # noqa: E402  (the shared series writer of tests/dicom)


def workstation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())


def _lowest_slice(folder: Path) -> pydicom.Dataset:
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in folder.iterdir() if p.suffix == ".dcm"]
    return min(headers, key=lambda ds: float(ds.ImagePositionPatient[2]))


def test_info_json_describes_the_ct_from_its_headers(cirs_ct: Path) -> None:
    done = workstation("info", cirs_ct, "--json")
    assert done.returncode == 0, done.stderr
    [ct] = json.loads(done.stdout)
    first = _lowest_slice(cirs_ct)
    assert ct["series_uid"] == first.SeriesInstanceUID and ct["modality"] == "CT"
    assert ct["description"] == first.SeriesDescription
    assert ct["size"] == [512, 512, 283] and ct["files"] == 283
    np.testing.assert_allclose(ct["spacing"], [0.65625, 0.65625, 0.625], atol=1e-9)
    np.testing.assert_allclose(ct["origin"], [float(v) for v in first.ImagePositionPatient], atol=1e-9)
    np.testing.assert_allclose(ct["direction"], np.eye(3).ravel(), atol=1e-12)
    assert ct["warnings"] == []


def test_info_json_of_a_folder_with_four_series_and_a_table_without_json(decubitus: Path) -> None:
    done = workstation("info", decubitus, "--json")
    assert done.returncode == 0, done.stderr
    volumes = json.loads(done.stdout)
    assert len(volumes) == 4 and len({v["series_uid"] for v in volumes}) == 4
    for v in volumes:
        assert v["size"] == [256, 256, 35] and v["modality"] == "MR"
        assert len(v["direction"]) == 9
    assert "4 file(s) left out" in done.stderr and "HFS.txt: not a DICOM file" in done.stderr
    table = workstation("info", decubitus / "HFS")
    assert table.returncode == 0
    assert "256 x 256 x 35" in table.stdout and "t1_fl2d_sag" in table.stdout


def test_info_reads_no_pixels_and_never_imports_simpleitk(cirs_mr: Path) -> None:
    code = ("import sys, argparse; from workstation.cli import info; "
            f"info.run(argparse.Namespace(paths=[{str(cirs_mr)!r}], json=True, scaling='philips-fp')); "
            "print('SimpleITK' in sys.modules, 'pydicom.pixels' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False False"
    [mr] = json.loads(done.stdout)
    assert mr["size"] == [320, 240, 352]


def test_unreadable_input_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    for args in (("info", tmp_path), ("info", tmp_path / "missing"), ("convert", tmp_path, "-o", tmp_path / "x.nii"),
                 ("convert", tmp_path, "-o", tmp_path / "x.png")):
        done = workstation(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not list(tmp_path.glob("x*"))


def assert_holds_the_dicom_files(image: sitk.Image, folder: Path, tolerance: float) -> None:
    """Each DICOM file's pixels (pydicom) are the image's slice at the LPS place its header gives, and every
    slice of the image is one of them: compared in world coordinates, not by the loader's slice order."""
    array = sitk.GetArrayViewFromImage(image)
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    slices = set()
    for path in (p for p in folder.rglob("*") if p.is_file() and p.suffix != ".txt"):
        ds = pydicom.dcmread(path)
        row, column = np.asarray(ds.ImageOrientationPatient, dtype=np.float64).reshape(2, 3)
        np.testing.assert_allclose(direction[:, :2], np.stack([row, column], axis=1), atol=tolerance)
        np.testing.assert_allclose(image.GetSpacing()[:2], [float(v) for v in ds.PixelSpacing][::-1], atol=tolerance)
        index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in ds.ImagePositionPatient]))
        k = int(round(index[2]))
        np.testing.assert_allclose(index, [0.0, 0.0, k], atol=1e-3)
        np.testing.assert_array_equal(array[k], pydicom.pixels.apply_modality_lut(ds.pixel_array, ds))
        slices.add(k)
    assert slices == set(range(image.GetSize()[2]))


@pytest.mark.parametrize("extension", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_convert_writes_the_volume_exactly(decubitus: Path, tmp_path: Path, extension: str) -> None:
    out = tmp_path / f"hfs{extension}"
    done = workstation("convert", decubitus / "HFS", "-o", out)
    assert done.returncode == 0, done.stderr
    assert "1 file(s) left out" in done.stderr  # HFS.txt
    # NIfTI stores its affine in float32; NRRD and MetaImage keep doubles
    tolerance = 1e-4 if extension.startswith(".nii") else 1e-12
    assert_holds_the_dicom_files(sitk.ReadImage(str(out)), decubitus / "HFS", tolerance)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_convert_one_file_per_series_with_the_series_number_or_one_picked(decubitus: Path, tmp_path: Path) -> None:
    done = workstation("convert", decubitus, "-o", tmp_path / "all.nrrd")
    assert done.returncode == 0, done.stderr
    # HFS is series 3; HFP, HFDR and HFDL are all series 2, so they get part numbers in series UID order
    assert sorted(p.name for p in tmp_path.glob("all_*.nrrd")) == ["all_2_1.nrrd", "all_2_2.nrrd", "all_2_3.nrrd",
                                                                    "all_3.nrrd"]
    picked = pydicom.dcmread(next((decubitus / "HFP").rglob("*.dcm")), stop_before_pixels=True).SeriesInstanceUID
    done = workstation("convert", decubitus, "-o", tmp_path / "hfp.nrrd", "--series", picked)
    assert done.returncode == 0, done.stderr
    assert_holds_the_dicom_files(sitk.ReadImage(str(tmp_path / "hfp.nrrd")), decubitus / "HFP", 1e-12)
    missing = workstation("convert", decubitus, "-o", tmp_path / "none.nrrd", "--series", "1.2.3")
    assert missing.returncode == 2 and "no loadable series 1.2.3" in missing.stderr


def test_convert_a_4d_series_to_a_4d_image(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    for echo in (1, 2):
        write_series(tmp_path / f"e{echo}", axial(5), series_uid=uid, instances=range(echo * 10, echo * 10 + 5),
                     edit=lambda ds, n, echo=echo: setattr(ds, "EchoNumbers", echo))
    done = workstation("convert", tmp_path / "e1", tmp_path / "e2", "-o", tmp_path / "echoes.nii")
    assert done.returncode == 0, done.stderr
    image = sitk.ReadImage(str(tmp_path / "echoes.nii"))
    assert image.GetSize() == (16, 16, 5, 2)
    for t, echo in enumerate(("e1", "e2")):  # time point t is echo t + 1, slice by slice as pydicom reads it
        assert_holds_the_dicom_files(image[:, :, :, t], tmp_path / echo, 1e-4)


def test_a_tilted_grid_is_refused_for_nifti_and_kept_exactly_elsewhere(tmp_path: Path) -> None:
    tilt = math.radians(15)
    write_series(tmp_path / "in", axial(8, step=1.25), orientation=[1, 0, 0, 0, math.cos(tilt), -math.sin(tilt)])
    refused = workstation("convert", tmp_path / "in", "-o", tmp_path / "tilt.nii")
    assert refused.returncode == 2 and "sheared (gantry tilt)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "tilt.nii").exists()
    done = workstation("convert", tmp_path / "in", "-o", tmp_path / "tilt.nrrd")
    assert done.returncode == 0 and "gantry tilt 15.00 degrees" in done.stdout
    image = sitk.ReadImage(str(tmp_path / "tilt.nrrd"))
    assert_holds_the_dicom_files(image, tmp_path / "in", 1e-12)  # the tilted rows and columns, as written
    np.testing.assert_allclose(np.asarray(image.GetDirection()).reshape(3, 3)[:, 2], [0, 0, 1], atol=1e-12)
