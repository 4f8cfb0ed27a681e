"""Acceptance: geometry and voxels agree with dcm2niix, the reference converter, in world space.

dcm2niix (PyPI binary in the virtualenv) converts each case into tmp_path;
its NIfTI is read with SimpleITK, which turns NIfTI's RAS into LPS. The two
grids may differ by axis order and flips, so the test finds the signed
permutation that maps dcm2niix's voxel indices onto ours, checks that the
voxel centres of the 8 corners land within 1e-3 mm of each other in LPS, and
that every voxel value is identical under that mapping.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file

from workstation.dicom.load import load_volumes
from workstation.volume import Volume

DCM2NIIX = Path(sys.executable).with_name("dcm2niix")


def _dcm2niix(source: Path, out: Path) -> list[sitk.Image]:
    out.mkdir(parents=True, exist_ok=True)
    single = ["-s", "y"] if source.is_file() else []
    done = subprocess.run([str(DCM2NIIX), "-b", "n", "-z", "n", *single, "-f", "%s_%e_%j", "-o", str(out),
                           str(source)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [sitk.ReadImage(str(p)) for p in sorted(out.glob("*.nii"))]


def _affine(image: sitk.Image) -> np.ndarray:
    a = np.eye(4)
    a[:3, :3] = np.asarray(image.GetDirection()).reshape(3, 3) * np.asarray(image.GetSpacing())
    a[:3, 3] = image.GetOrigin()
    return a


def assert_same_volume(ours: Volume, theirs: sitk.Image) -> None:
    """Same voxel centres (within 1e-3 mm in LPS) and identical values, whatever the axis order."""
    assert theirs.GetDimension() == 3
    mapping = np.linalg.inv(ours.affine) @ _affine(theirs)  # their index -> our index
    signs = np.rint(mapping[:3, :3])
    assert np.allclose(mapping[:3, :3], signs, atol=1e-4), f"not an axis permutation:\n{mapping}"
    assert sorted(np.abs(signs).sum(axis=0)) == [1, 1, 1] and sorted(np.abs(signs).sum(axis=1)) == [1, 1, 1]
    size = np.asarray(theirs.GetSize())
    corners = np.array([[a, b, c] for a in (0, size[0] - 1) for b in (0, size[1] - 1) for c in (0, size[2] - 1)])
    their_world = corners @ _affine(theirs)[:3, :3].T + _affine(theirs)[:3, 3]
    our_index = np.rint(corners @ mapping[:3, :3].T + mapping[:3, 3])
    assert np.all(our_index >= 0) and np.all(our_index < np.asarray(ours.shape_ijk)), our_index
    our_world = ours.index_to_world(our_index)
    assert np.abs(our_world - their_world).max() <= 1e-3, np.abs(our_world - their_world).max()

    # their array (k, j, i) -> (i, j, k), permute and flip onto our axes, back to (k, j, i)
    theirs_ijk = sitk.GetArrayFromImage(theirs).transpose(2, 1, 0)
    source_axis = [int(np.flatnonzero(signs[b])[0]) for b in range(3)]
    mapped = theirs_ijk.transpose(source_axis)
    for b in range(3):
        if signs[b, source_axis[b]] < 0:
            mapped = np.flip(mapped, axis=b)
    mapped = mapped.transpose(2, 1, 0)
    assert mapped.shape == ours.array.shape
    for k in range(mapped.shape[0]):
        if ours.array.dtype.kind == "f":
            np.testing.assert_allclose(ours.array[k], mapped[k], rtol=1e-6, err_msg=f"slice {k}")
        else:
            np.testing.assert_array_equal(ours.array[k], mapped[k], err_msg=f"slice {k}")


def _agree(source: Path, tmp_path: Path) -> None:
    """dcm2niix and we find the same number of volumes, and each of theirs is one of ours."""
    theirs = _dcm2niix(source, tmp_path / "dcm2niix")
    ours = load_volumes(source).volumes
    assert len(theirs) == len(ours) >= 1, (len(theirs), len(ours))
    unmatched = list(ours)
    for image in theirs:
        failures = []
        for n, volume in enumerate(unmatched):
            try:
                assert_same_volume(volume, image)
            except AssertionError as exc:
                failures.append(str(exc).splitlines()[0])
                continue
            del unmatched[n]
            break
        else:
            raise AssertionError(f"no volume of ours matches dcm2niix's {image.GetSize()}: {failures}")


def test_dcm2niix_is_installed() -> None:
    assert DCM2NIIX.exists() or shutil.which("dcm2niix"), "dcm2niix (PyPI) missing from the virtualenv"


@pytest.mark.parametrize("number", range(1, 10))
def test_dcm_qa_ts(dcm_qa_ts: Path, tmp_path: Path, number: int) -> None:
    _agree(dcm_qa_ts / "In" / f"{number}.dcm", tmp_path)


@pytest.mark.parametrize("position", ["HFS", "HFP", "HFDR", "HFDL"])
def test_dcm_qa_decubitus(decubitus: Path, tmp_path: Path, position: str) -> None:
    _agree(decubitus / position, tmp_path)


def test_cirs_ct(cirs_ct: Path, tmp_path: Path) -> None:
    _agree(cirs_ct, tmp_path)


def test_cirs_mr(cirs_mr: Path, tmp_path: Path) -> None:
    _agree(cirs_mr, tmp_path)


# rtdose.dcm is left out: dcm2niix ignores its Grid Frame Offset Vector ("unable to determine slice direction")
# and writes 1 mm slices where the offsets say 5 mm; test_assemble checks our grid against the offsets.
@pytest.mark.parametrize("name", ["eCT_Supplemental.dcm", "MR_small.dcm", "CT_small.dcm",
                                  "MR2_UNCR.dcm", "693_J2KR.dcm", "emri_small_jpeg_ls_lossless.dcm"])
def test_pydicom_data_files(tmp_path: Path, name: str) -> None:
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(get_testdata_file(name), source / name)
    _agree(source, tmp_path)


# (77654033/CT2 is left out: four slices 1.25 to 202 mm apart fit no uniform grid, so no converter can agree.)
@pytest.mark.parametrize("series", ["98892003/MR700", "98892003/MR2", "98892001/CT5N"])
def test_pydicom_data_multi_slice_series(tmp_path: Path, series: str) -> None:
    folder = Path(get_testdata_file("DICOMDIR")).parent / series
    _agree(folder, tmp_path)
