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
from workstation.jobs import no_progress
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
    """The LPS voxel-to-world matrix of a SimpleITK image's first three axes."""
    n = image.GetDimension()
    a = np.eye(4)
    a[:3, :3] = np.asarray(image.GetDirection()).reshape(n, n)[:3, :3] * np.asarray(image.GetSpacing()[:3])
    a[:3, 3] = image.GetOrigin()[:3]
    return a


def _grid(image: Volume | sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(array as (t, k, j, i), LPS affine) of a Volume or a 3D/4D SimpleITK image."""
    if isinstance(image, Volume):
        array, affine = image.array, image.affine
    else:
        array, affine = sitk.GetArrayFromImage(image), _affine(image)
    return (array if array.ndim == 4 else array[None]), affine


def compare(ours: Volume | sitk.Image, theirs: sitk.Image, tolerance_mm: float = 1e-3,
            rtol: float = 1e-6, atol: float | None = None) -> tuple[float, float]:
    """Assert the same voxel centres in LPS and the same values, whatever the axis order; the figures.

    Returns (largest voxel difference relative to the largest value, largest
    distance in mm between the corner voxel centres of the two grids).
    """
    our_array, our_affine = _grid(ours)
    their_array, their_affine = _grid(theirs)
    mapping = np.linalg.inv(our_affine) @ their_affine  # their index -> our index
    signs = np.rint(mapping[:3, :3])
    assert np.allclose(mapping[:3, :3], signs, atol=1e-4), f"not an axis permutation:\n{mapping}"
    assert sorted(np.abs(signs).sum(axis=0)) == [1, 1, 1] and sorted(np.abs(signs).sum(axis=1)) == [1, 1, 1]
    size = np.asarray(their_array.shape[:0:-1])
    corners = np.array([[a, b, c] for a in (0, size[0] - 1) for b in (0, size[1] - 1) for c in (0, size[2] - 1)])
    their_world = corners @ their_affine[:3, :3].T + their_affine[:3, 3]
    our_index = np.rint(corners @ mapping[:3, :3].T + mapping[:3, 3])
    assert np.all(our_index >= 0) and np.all(our_index < np.asarray(our_array.shape[:0:-1])), our_index
    our_world = our_index @ our_affine[:3, :3].T + our_affine[:3, 3]
    distance = float(np.abs(our_world - their_world).max())
    assert distance <= tolerance_mm, distance

    # their array (t, k, j, i) -> (i, j, k, t), permute and flip onto our axes, back to (t, k, j, i)
    theirs_ijk = their_array.transpose(3, 2, 1, 0)
    source_axis = [int(np.flatnonzero(signs[b])[0]) for b in range(3)]
    mapped = theirs_ijk.transpose(*source_axis, 3)
    for b in range(3):
        if signs[b, source_axis[b]] < 0:
            mapped = np.flip(mapped, axis=b)
    mapped = mapped.transpose(3, 2, 1, 0)
    assert mapped.shape == our_array.shape, (mapped.shape, our_array.shape)
    scale = max(float(np.abs(mapped).max()), 1.0)
    atol = rtol * scale if atol is None else atol
    worst = 0.0
    for t, k in np.ndindex(*mapped.shape[:2]):
        if our_array.dtype.kind == "f" or mapped.dtype.kind == "f":
            np.testing.assert_allclose(our_array[t, k], mapped[t, k], rtol=rtol, atol=atol,
                                       err_msg=f"volume {t} slice {k}")
        else:
            np.testing.assert_array_equal(our_array[t, k], mapped[t, k], err_msg=f"volume {t} slice {k}")
        difference = np.abs(our_array[t, k].astype(np.float64) - mapped[t, k].astype(np.float64))
        worst = max(worst, float(difference.max()) / scale)
    return worst, distance


def _agree(source: Path, tmp_path: Path) -> None:
    """dcm2niix and we find the same number of volumes, and each of theirs is one of ours."""
    theirs = _dcm2niix(source, tmp_path / "dcm2niix")
    ours = load_volumes(no_progress, None, source).volumes
    assert len(theirs) == len(ours) >= 1, (len(theirs), len(ours))
    unmatched = list(ours)
    for image in theirs:
        failures = []
        for n, volume in enumerate(unmatched):
            try:
                voxels, geometry = compare(volume, image)
            except AssertionError as exc:
                failures.append(str(exc).splitlines()[0])
                continue
            print(f"\n{source.name} {image.GetSize()}: max voxel difference {voxels:.3g}, "
                  f"max corner distance {geometry:.3g} mm")
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


# -- vendor DICOM: what `workstation convert` writes against dcm2niix's reference files --------------------------

VENDOR_CASES = {
    # case: (input folder, {our file name suffix: dcm2niix's reference, None to run dcm2niix here})
    "uih_vframe_dti": ("stc/In/UIH", {"": "stc/Ref/UIH_dti_tra_dir16_PA_rot_12"}),
    "philips_fmri_fp": ("philips/In/Magdeburg_2014", {"": "philips/Ref/EPI_asc_CLEAR_201"}),
    "philips_enhanced_fieldmap": ("enh/In/Philips", {
        "_801_magnitude": "enh/Ref/Philips_WIP_B0_NS_801_e1",
        "_801_fieldmap_hz": "enh/Ref/Philips_WIP_B0_NS_801_e2_fieldmaphz"}),
    "philips_dwi": ("philips/In/Vanderbilt_2018", {"": None}),
}
DWI_REFERENCE = "philips/Ref/WIP_dti_ax_601"  # dcm2niix's bval/bvec of philips_dwi (its NIfTI is not included)
FIELD_MAP_ATOL_HZ = 0.01
"""dcm2niix writes the field map's display scaling (RS 0.24420024, RI -500) as float32 numbers it derived in
float32 (0.24420166, -499.99994), so its values are off by up to 1.4e-6 x 4095 + 6e-5 = 0.006 Hz."""


def _convert(source: Path, out: Path, *options: str) -> str:
    done = subprocess.run([sys.executable, "-m", "workstation", "convert", str(source), "-o", str(out), *options],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _beside(stem: Path, extension: str) -> Path:
    """The file ``stem`` + ``extension`` (dcm2niix's names hold dots, so ``with_suffix`` would cut them)."""
    return stem.with_name(stem.name + extension)


def _pixdim4(path: Path) -> float:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return float(reader.GetMetaData("pixdim[4]"))


def _gradients_in_lps(stem: Path, image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """(b-values, gradients in LPS) from FSL's .bval/.bvec beside a NIfTI, as FSL reads them.

    FSL's bvec is along the file's voxel axes, the first negated when the
    voxel-to-world matrix has a positive determinant; SimpleITK's direction
    (LPS) has the same determinant as the file's RAS matrix.
    """
    b = np.loadtxt(_beside(stem, ".bval"), ndmin=1)
    vectors = np.loadtxt(_beside(stem, ".bvec"), ndmin=2)
    direction = np.asarray(image.GetDirection()).reshape(image.GetDimension(), -1)[:3, :3]
    flip = np.diag([-1.0 if np.linalg.det(direction) > 0 else 1.0, 1.0, 1.0])
    return b, (direction @ flip @ vectors).T


@pytest.mark.parametrize("case", VENDOR_CASES)
def test_vendor_convert_agrees_with_dcm2niix(dcm_qa_vendor: Path, tmp_path: Path, case: str) -> None:
    """Same voxels, LPS geometry (1e-4 mm), time step and b-values/gradients as dcm2niix, file by file."""
    folder, files = VENDOR_CASES[case]
    ours_out = tmp_path / "ours"
    ours_out.mkdir()
    _convert(dcm_qa_vendor / folder, ours_out / f"{case}.nii")
    ours_files = sorted(p.name for p in ours_out.glob("*.nii"))
    assert ours_files == sorted(f"{case}{suffix}.nii" for suffix in files)
    for suffix, reference in files.items():
        if reference is None:
            # dcm2niix also writes the trace volume it removes from the series to a file of its own (_ADC)
            (theirs_path,) = [p.with_suffix("") for p in _dcm2niix_files(dcm_qa_vendor / folder, tmp_path / "dcm2niix")
                              if not p.stem.endswith("_ADC")]
        else:
            theirs_path = dcm_qa_vendor / reference
        ours_path = ours_out / f"{case}{suffix}"
        ours, theirs = sitk.ReadImage(f"{ours_path}.nii"), sitk.ReadImage(f"{theirs_path}.nii")
        voxels, geometry = compare(ours, theirs, tolerance_mm=1e-4, rtol=1e-6,
                                   atol=FIELD_MAP_ATOL_HZ if "fieldmap" in suffix else None)
        print(f"\n{case}{suffix}: size {theirs.GetSize()}, max voxel difference {voxels:.3g} (relative to the "
              f"largest value), max corner distance {geometry:.3g} mm")
        if theirs.GetDimension() == 4:
            assert _pixdim4(Path(f"{ours_path}.nii")) == pytest.approx(_pixdim4(Path(f"{theirs_path}.nii")), rel=1e-6)
        bval_reference = theirs_path
        if case == "philips_dwi":  # the included reference, read along the axes of the NIfTI made here
            bval_reference = dcm_qa_vendor / DWI_REFERENCE
            for extension in (".bval", ".bvec"):
                np.testing.assert_allclose(np.loadtxt(_beside(theirs_path, extension)),
                                           np.loadtxt(_beside(bval_reference, extension)), atol=1e-5)
        if _beside(bval_reference, ".bval").exists():
            our_b, our_g = _gradients_in_lps(ours_path, ours)
            their_b, their_g = _gradients_in_lps(bval_reference, theirs)
            np.testing.assert_allclose(our_b, their_b, rtol=1e-5)
            np.testing.assert_allclose(our_g, their_g, atol=1e-4)
            print(f"{case}{suffix}: {len(our_b)} b-values equal, max gradient difference (LPS) "
                  f"{np.abs(our_g - their_g).max():.3g}")
        else:
            assert not _beside(ours_path, ".bval").exists()


def _dcm2niix_files(source: Path, out: Path) -> list[Path]:
    _dcm2niix(source, out)
    return sorted(out.glob("*.nii"))
