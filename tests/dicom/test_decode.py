"""Decoding: every transfer syntax to identical pixels, modality LUT types, MONOCHROME1, colour, slices first.

Lossless twins come from pydicom-data (the same image stored uncompressed and
compressed); dcm_qa_ts holds one Siemens image in nine transfer syntaxes.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000MC, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from synthetic_series import axial, write_series

from workstation.dicom.decode import LUMINANCE
from workstation.dicom.load import load_plan, load_volumes, plan_volumes
from workstation.errors import Cancelled, DicomError
from workstation.jobs import CancelToken, no_progress


def _load(path: str | Path) -> np.ndarray:
    [volume] = load_volumes(no_progress, None, path).volumes
    return volume.array


def test_every_transfer_syntax_of_dcm_qa_ts_decodes_to_identical_pixels(dcm_qa_ts: Path) -> None:
    files = sorted((dcm_qa_ts / "In").glob("*.dcm"))
    assert len(files) == 9
    syntaxes = {str(pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID) for f in files}
    assert len(syntaxes) >= 7  # explicit/implicit LE, BE, RLE, JPEG lossless, JPEG-LS, JPEG 2000
    mosaic = pydicom.dcmread(files[0]).pixel_array  # explicit VR little endian, decoded by pydicom
    # a Siemens mosaic of 35 slices of 64 x 64 in a 6 x 6 grid, in slice order
    tiles = np.stack([mosaic[(k // 6) * 64:(k // 6 + 1) * 64, (k % 6) * 64:(k % 6 + 1) * 64] for k in range(35)])
    assert tiles.any()
    for f in files:
        np.testing.assert_array_equal(_load(f), tiles, err_msg=f.name)


TWINS = {
    "MR_small.dcm": ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                     "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm"],
    "emri_small.dcm": ["emri_small_RLE.dcm", "emri_small_big_endian.dcm", "emri_small_jpeg_2k_lossless.dcm",
                       "emri_small_jpeg_ls_lossless.dcm"],
    "693_UNCR.dcm": ["693_J2KR.dcm"],
    "MR2_UNCR.dcm": ["MR2_J2KR.dcm"],
    "RG3_UNCR.dcm": ["RG3_J2KR.dcm"],
    "US1_UNCR.dcm": ["US1_J2KR.dcm"],
    "SC_rgb.dcm": ["SC_rgb_rle.dcm", "SC_rgb_expb.dcm", "SC_rgb_jpeg_gdcm.dcm"],
    "SC_rgb_16bit.dcm": ["SC_rgb_rle_16bit.dcm", "SC_rgb_expb_16bit.dcm"],
    "SC_rgb_2frame.dcm": ["SC_rgb_rle_2frame.dcm"],
    "rtdose.dcm": ["rtdose_rle.dcm", "rtdose_expb.dcm"],
    "OBXXXX1A.dcm": ["OBXXXX1A_rle.dcm"],  # (the _expb twin: pydicom applies its big endian palette differently)
}


@pytest.mark.parametrize("original", sorted(TWINS))
def test_lossless_twins_decode_identically(original: str) -> None:
    expected = _load(get_testdata_file(original))
    for twin in TWINS[original]:
        actual = _load(get_testdata_file(twin))
        assert actual.dtype == expected.dtype, twin
        np.testing.assert_array_equal(actual, expected, err_msg=twin)


def test_deflated_file_decodes_like_its_source(tmp_path: Path) -> None:
    source = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    deflated = tmp_path / "deflated.dcm"
    ds.save_as(deflated, enforce_file_format=True)
    np.testing.assert_array_equal(_load(deflated), _load(source))
    np.testing.assert_array_equal(_load(get_testdata_file("image_dfl.dcm"))[0],
                                  pydicom.dcmread(get_testdata_file("image_dfl.dcm")).pixel_array)


@pytest.mark.parametrize("name", ["SC_rgb_jpeg_dcmtk.dcm", "JPEG-LL.dcm",
                                  "JPEGLSNearLossless_16.dcm", "MR2_J2KI.dcm"])
def test_lossy_and_other_jpeg_processes_decode_like_pydicom(name: str) -> None:
    ds = pydicom.dcmread(get_testdata_file(name))
    expected = ds.pixel_array
    actual = _load(get_testdata_file(name))[0]
    if expected.ndim == 3:  # colour: the volume holds BT.601 luminance of pydicom's RGB
        expected = np.rint(expected.astype(np.float32) @ LUMINANCE)
    else:
        slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
        expected = expected.astype(np.float32) * np.float32(slope) + np.float32(intercept) if slope != 1 else \
            expected + intercept
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("name", ["JPGExtended.dcm", "JPEG-lossy.dcm"])
def test_12_bit_jpeg_extended_decodes_like_dcmtk(name: str, tmp_path: Path) -> None:
    """No GPL decoder ships: GDCM decodes 12-bit JPEG extended (JPEG-lossy.dcm's SOS defeats pylibjpeg-libjpeg)."""
    assert shutil.which("dcmdjpeg"), "dcmtk's dcmdjpeg is needed (Debian package dcmtk)"
    reference = tmp_path / "dcmtk.dcm"
    subprocess.run(["dcmdjpeg", get_testdata_file(name), str(reference)], check=True, capture_output=True)
    expected = pydicom.dcmread(reference)
    assert expected.BitsStored == 12 and expected.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(_load(get_testdata_file(name))[0], expected.pixel_array)


def test_a_frame_no_plugin_can_decode_is_a_one_line_error(tmp_path: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    ds.file_meta.TransferSyntaxUID = JPEG2000MC  # JPEG 2000 part 2: no installed plugin decodes it
    path = tmp_path / "part2.dcm"
    ds.save_as(path)
    with pytest.raises(DicomError) as caught:
        load_volumes(no_progress, None, path)
    message = str(caught.value)
    assert "part2.dcm" in message and "cannot decode pixel data" in message and "\n" not in message


def test_ct_keeps_int16_hounsfield_units(cirs_ct: Path) -> None:
    files = [cirs_ct / f"{n}.dcm" for n in (1, 2, 3)]  # adjacent slices
    [volume] = load_volumes(no_progress, None, files).volumes
    assert volume.array.dtype == np.int16 and volume.meta.units == "HU"
    for f in files:
        ds = pydicom.dcmread(f)
        k = int(round(volume.world_to_index([float(v) for v in ds.ImagePositionPatient])[2]))
        np.testing.assert_array_equal(volume.array[k], ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept))
    assert [(p.center, p.width) for p in volume.meta.window_presets] == [(40.0, 400.0)]


def test_a_fractional_slope_gives_float32_without_float64(tmp_path: Path) -> None:
    def rescale(ds: pydicom.Dataset, n: int) -> None:
        ds.RescaleSlope, ds.RescaleIntercept = "0.25", "-3.5"

    write_series(tmp_path, axial(3), edit=rescale)
    [volume] = load_volumes(no_progress, None, tmp_path).volumes
    assert volume.array.dtype == np.float32
    stored = np.stack([pydicom.dcmread(p).pixel_array for p in sorted(tmp_path.iterdir())])
    expected = np.sort((stored.astype(np.float32) * np.float32(0.25) + np.float32(-3.5)).ravel())
    np.testing.assert_array_equal(np.sort(volume.array.ravel()), expected)


def test_real_values_beyond_int16_widen_to_int32(tmp_path: Path) -> None:
    def big(ds: pydicom.Dataset, n: int) -> None:
        ds.RescaleIntercept = "30000"  # stored values up to n * 1000 + 255 plus 30000 exceed int16

    write_series(tmp_path, axial(3), edit=big)
    [volume] = load_volumes(no_progress, None, tmp_path).volumes
    assert volume.array.dtype == np.int32
    assert volume.array.max() == 3 * 1000 + 255 + 30000 and volume.array.min() == 1000 + 30000
    assert any("int32" in w for w in volume.meta.warnings)


def test_monochrome1_is_inverted_so_that_high_values_are_bright() -> None:
    path = get_testdata_file("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    [volume] = load_volumes(no_progress, None, path).volumes
    top = (1 << ds.BitsStored) - 1
    np.testing.assert_array_equal(volume.array[0], top - ds.pixel_array.astype(np.int32))
    centers = ds.WindowCenter if isinstance(ds.WindowCenter, pydicom.multival.MultiValue) else [ds.WindowCenter]
    assert [p.center for p in volume.meta.window_presets] == [top - float(c) for c in centers]
    assert any("PixelSpacing 0\\0" in w and "1 mm pixels assumed" in w for w in volume.meta.warnings)
    np.testing.assert_array_equal(_load(get_testdata_file("RG1_J2KR.dcm")), volume.array)


def test_ybr_and_rgb_images_of_the_same_picture_give_the_same_luminance() -> None:
    rgb = _load(get_testdata_file("SC_rgb.dcm")).astype(np.int32)
    ybr = _load(get_testdata_file("SC_ybr_full_uncompressed.dcm")).astype(np.int32)
    assert rgb.dtype.kind == "i" and rgb.max() > 0
    assert np.abs(rgb - ybr).max() <= 2  # YBR_FULL rounding, not a colour mix-up
    red = pydicom.dcmread(get_testdata_file("SC_rgb.dcm")).pixel_array[5, 50]
    assert rgb[0, 5, 50] == round(float(np.asarray(red, dtype=np.float32) @ LUMINANCE))


def test_the_middle_slice_comes_first_and_every_slice_is_reported(tmp_path: Path) -> None:
    write_series(tmp_path, axial(9))
    [plan] = plan_volumes(no_progress, None, tmp_path)
    seen: list[tuple[int, np.ndarray]] = []
    lock = threading.Lock()

    def on_slice(k: int, image: np.ndarray) -> None:
        with lock:
            seen.append((k, image.copy()))

    volume = load_plan(no_progress, None, plan, on_slice=on_slice)
    assert seen[0][0] == 4
    assert sorted(k for k, _ in seen) == list(range(9))
    for k, image in seen:
        np.testing.assert_array_equal(image, volume.array[k])


def test_cancel_stops_the_load(tmp_path: Path) -> None:
    write_series(tmp_path, axial(6))
    [plan] = plan_volumes(no_progress, None, tmp_path)
    token = CancelToken()
    token.set()
    with pytest.raises(Cancelled):
        load_plan(no_progress, token, plan)
    with pytest.raises(Cancelled):
        load_volumes(no_progress, token, tmp_path)


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    write_series(tmp_path, axial(4))
    fractions: list[float] = []
    load_volumes(lambda f, m: fractions.append(f), None, tmp_path)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
