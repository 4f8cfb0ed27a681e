"""Corrupt input: each bad file gets its own one-line message, the good series still loads, nothing explodes.

The bad files are corrupted copies written into tmp_path beside a good
synthetic series (the shared data is never touched).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from synthetic_series import axial, pixels_of, write_series

from workstation.dicom.load import load_volumes
from workstation.errors import DicomError
from workstation.jobs import no_progress

GOOD = 6


def _one_slice(folder: Path, name: str, z: float, instance: int, edit=None) -> Path:
    """A single-slice file of its own series at height z, renamed to ``name``."""
    [path] = write_series(folder / f"_{name}", [[-4.0, -6.0, z]], instances=[instance], edit=edit)
    target = folder / name
    path.rename(target)
    path.parent.rmdir()
    return target


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_series(tmp_path / "good", axial(GOOD))
    return tmp_path


def _load(folder: Path) -> tuple[list, dict[str, str]]:
    result = load_volumes(no_progress, None, folder)
    return result.volumes, {Path(entry.path).name: entry.reason for entry in result.skipped}


def _good_volume_intact(volumes: list) -> None:
    [volume] = [v for v in volumes if v.array.shape == (GOOD, 16, 16)]
    for k in range(GOOD):
        np.testing.assert_array_equal(volume.array[k], pixels_of(k + 1))


def test_truncated_file(folder: Path) -> None:
    source = _one_slice(folder, "whole.dcm", 50.0, 50)
    data = source.read_bytes()
    (folder / "truncated.dcm").write_bytes(data[:-200])
    source.unlink()
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["truncated.dcm"] == ("declares 1 x 16 x 16 pixels of 16 bits (512 bytes) but holds 312 bytes "
                                        "of pixel data (truncated or contradictory tags)")


def test_file_cut_inside_its_header(folder: Path) -> None:
    source = _one_slice(folder, "whole.dcm", 50.0, 50)
    (folder / "cut.dcm").write_bytes(source.read_bytes()[:700])
    source.unlink()
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["cut.dcm"] == "no pixel data (not an image)"  # the header ends before any pixel data


def test_missing_pixel_data(folder: Path) -> None:
    _one_slice(folder, "nopixels.dcm", 50.0, 50, edit=lambda ds, n: delattr(ds, "PixelData"))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["nopixels.dcm"] == "no pixel data (not an image)"


def test_contradictory_bit_depths(folder: Path) -> None:
    _one_slice(folder, "bits.dcm", 50.0, 50, edit=lambda ds, n: setattr(ds, "BitsStored", 20))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["bits.dcm"] == "BitsStored 20 contradicts BitsAllocated 16"


def test_image_size_contradicting_the_pixel_bytes(folder: Path) -> None:
    _one_slice(folder, "size.dcm", 50.0, 50, edit=lambda ds, n: setattr(ds, "Rows", 32))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert "declares 1 x 32 x 16 pixels of 16 bits" in skipped["size.dcm"]
    assert "holds 512 bytes of pixel data" in skipped["size.dcm"]


def test_skewed_orientation(folder: Path) -> None:
    _one_slice(folder, "skew.dcm", 50.0, 50, edit=lambda ds, n: setattr(ds, "ImageOrientationPatient",
                                                                          [1, 0, 0, 0.5, 1, 0]))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert "ImageOrientationPatient 1\\0\\0\\0.5\\1\\0 is not two perpendicular unit vectors" in skipped["skew.dcm"]


def test_zero_pixel_spacing_is_named_and_the_image_still_shows(folder: Path) -> None:
    _one_slice(folder, "zero.dcm", 50.0, 50, edit=lambda ds, n: setattr(ds, "PixelSpacing", [0, 0]))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    [odd] = [v for v in volumes if v.array.shape == (1, 16, 16)]
    assert "PixelSpacing 0\\0 of instance 50 is not usable (must be > 0): 1 mm pixels assumed" in odd.meta.warnings
    np.testing.assert_array_equal(odd.spacing[:2], [1.0, 1.0])


def test_two_slices_at_one_position_are_not_a_zero_spacing(tmp_path: Path) -> None:
    positions = axial(4)
    write_series(tmp_path, positions + [positions[2]], instances=[1, 2, 3, 4, 9])
    [volume] = load_volumes(no_progress, None, tmp_path).volumes
    assert volume.array.shape == (4, 16, 16) and volume.spacing[2] == pytest.approx(2.5)
    [warning] = volume.meta.warnings
    assert "left out instance 9" in warning


def test_a_declared_60000_by_60000_image_is_refused_before_any_allocation(folder: Path) -> None:
    def huge(ds: pydicom.Dataset, n: int) -> None:
        ds.Rows = ds.Columns = 60000

    _one_slice(folder, "huge.dcm", 50.0, 50, edit=huge)
    tracemalloc.start()
    try:
        volumes, skipped = _load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _good_volume_intact(volumes)
    assert skipped["huge.dcm"].startswith("declares 1 x 60000 x 60000 pixels of 16 bits (7.2 GB) but holds 512 bytes")
    assert peak < 20_000_000, peak


def test_corrupt_compressed_stream(folder: Path) -> None:
    ds = pydicom.dcmread(get_testdata_file("MR_small_jpeg_ls_lossless.dcm"))
    frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    broken = frames[0][:2] + bytes(100)  # a start-of-image marker, then nothing a codec can parse
    ds.PixelData = pydicom.encaps.encapsulate([broken])
    ds.save_as(folder / "broken_jpegls.dcm", enforce_file_format=True)
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["broken_jpegls.dcm"].startswith("cannot decode pixel data"), skipped


def test_not_dicom_at_all(folder: Path) -> None:
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "noise.dcm").write_bytes(np.random.default_rng(1).bytes(5000))
    volumes, skipped = _load(folder)
    _good_volume_intact(volumes)
    assert skipped["notes.txt"].startswith("not a DICOM file")
    assert skipped["noise.dcm"].startswith("not a DICOM file")


def test_nothing_loadable_is_one_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here\n")
    with pytest.raises(DicomError) as caught:
        load_volumes(no_progress, None, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: no loadable DICOM images (1 file(s) left out; first: ")
    assert "\n" not in message
