"""The fast header reader gives exactly pydicom's header, on real files of every kind.

``read_header`` walks tags itself for little endian files and falls back to
pydicom for the rest; ``read_header_pydicom`` reads with pydicom alone. Both
must agree on every field for every real file we have: the shared data sets
and all of pydicom's and pydicom-data's test files.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from workstation.dicom import tagscan
from workstation.dicom.header import InstanceHeader, header_from_json, header_to_json, read_header, read_header_pydicom
from workstation.errors import DicomError

PYDICOM_FILES = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent


def _pydicom_data_files() -> Path:
    import data_store  # the pydicom-data package

    return Path(data_store.__file__).parent / "data"


def _files(*roots: Path) -> list[Path]:
    found = [Path(folder) / name for root in roots for folder, _, names in os.walk(root) for name in names]
    assert found, f"no files under {roots}"
    return sorted(found)


def _outcome(read, path: Path) -> InstanceHeader | str:
    try:
        return read(path)
    except DicomError as exc:
        return f"DicomError: {exc.reason}"


def _assert_same(paths: list[Path]) -> int:
    """Both readers agree on every path; returns how many were DICOM."""
    differences = []
    dicom = 0
    for path in paths:
        fast, reference = _outcome(read_header, path), _outcome(read_header_pydicom, path)
        if isinstance(reference, InstanceHeader):
            dicom += 1
        if isinstance(fast, str) or isinstance(reference, str):
            if isinstance(fast, str) != isinstance(reference, str):
                differences.append((path, fast if isinstance(fast, str) else "ok", reference))
            continue
        fields = {f.name: (getattr(fast, f.name), getattr(reference, f.name))
                  for f in dataclasses.fields(InstanceHeader) if getattr(fast, f.name) != getattr(reference, f.name)}
        if fields:
            differences.append((path, fields))
    assert not differences, differences[:5]
    return dicom


def _uses_fast_path(path: Path) -> bool:
    with open(path, "rb") as f:
        try:
            tagscan.scan_file(f, os.fstat(f.fileno()).st_size)
        except tagscan.Unsupported:
            return False
    return True


def test_identical_to_pydicom_on_the_shared_data(shared_data: Path, cirs_ct: Path, cirs_mr: Path) -> None:
    paths = _files(shared_data / "dcm_qa_ts", shared_data / "dcm_qa_decubitus", cirs_ct, cirs_mr)
    assert _assert_same(paths) == 9 + 4 * 35 + 283 + 352
    # the scanner itself handles the scanner data (all but the big endian and deflated ts files)
    dicom = [p for p in paths if p.suffix == ".dcm"]
    fast = [p for p in dicom if _uses_fast_path(p)]
    assert len(fast) >= len(dicom) - 2


def test_identical_to_pydicom_on_pydicom_test_files() -> None:
    paths = _files(PYDICOM_FILES, _pydicom_data_files())
    assert _assert_same(paths) > 200


def test_header_values_of_a_known_ct_slice(cirs_ct: Path) -> None:
    header = read_header(cirs_ct / "1.dcm")
    assert header.series_uid == "1.2.840.113619.2.290.3.3233817346.783.1399004564.515"
    assert (header.rows, header.columns, header.bits_allocated, header.pixel_representation) == (512, 512, 16, 1)
    assert header.pixel_spacing == (0.65625, 0.65625)
    assert header.modality == "CT" and header.patient_position == "HFS"
    assert header.transfer_syntax_uid == tagscan.EXPLICIT_LE
    assert header.file_size == (cirs_ct / "1.dcm").stat().st_size


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_pixel_offset_points_at_the_pixel_bytes(name: str) -> None:
    path = Path(pydicom.data.get_testdata_file(name))
    header = read_header(path)
    with open(path, "rb") as f:
        f.seek(header.pixel_offset)
        assert f.read(header.pixel_length) == pydicom.dcmread(path).PixelData


def test_no_pixel_offset_for_compressed_pixels(shared_data: Path) -> None:
    headers = [read_header(p) for p in _files(shared_data / "dcm_qa_ts" / "In")]
    compressed = [h for h in headers if h.transfer_syntax_uid not in tagscan.NATIVE_SYNTAXES]
    assert len(compressed) >= 5
    assert all(h.pixel_offset is None and h.has_pixel_data for h in compressed)


def _without_preamble(source: Path, target: Path, keep_meta: bool) -> int:
    """Write ``source`` without its 128-byte preamble and DICM prefix (and without the meta group); bytes cut."""
    data = source.read_bytes()
    assert data[128:132] == b"DICM"
    cut = 132
    if not keep_meta:
        ds = pydicom.dcmread(source, stop_before_pixels=True)
        cut += 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    target.write_bytes(data[cut:])
    return cut


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small.dcm"])
@pytest.mark.parametrize("keep_meta", [True, False])
def test_files_without_preamble(tmp_path: Path, name: str, keep_meta: bool) -> None:
    source = Path(pydicom.data.get_testdata_file(name))
    target = tmp_path / "IM0001"
    cut = _without_preamble(source, target, keep_meta)
    original, stripped = read_header(source), read_header(target)
    assert stripped == read_header_pydicom(target)
    assert stripped.pixel_offset == original.pixel_offset - cut
    assert stripped.transfer_syntax_uid == original.transfer_syntax_uid  # guessed when the meta group is gone
    same = {"path", "file_size", "mtime_ns", "pixel_offset"}
    assert {f.name: getattr(stripped, f.name) for f in dataclasses.fields(InstanceHeader) if f.name not in same} == \
           {f.name: getattr(original, f.name) for f in dataclasses.fields(InstanceHeader) if f.name not in same}


@pytest.mark.parametrize("content", [b"", b"hello, this is a README\n" * 10, bytes(range(256)) * 4, b"\x00" * 200])
def test_non_dicom_files_raise_dicom_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "README"
    path.write_bytes(content)
    with pytest.raises(DicomError) as caught:
        read_header(path)
    assert str(path) in str(caught.value) and "not a DICOM file" in caught.value.reason


def test_a_truncated_header_is_an_error_without_patient_data(tmp_path: Path) -> None:
    source = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    ds = pydicom.dcmread(source)
    target = tmp_path / "cut.dcm"
    target.write_bytes(source.read_bytes()[:700])  # ends in the middle of the patient module
    fast, reference = _outcome(read_header, target), _outcome(read_header_pydicom, target)
    assert isinstance(fast, str) == isinstance(reference, str)
    if isinstance(fast, str):
        assert str(ds.PatientName) not in fast and str(ds.PatientID) not in fast
    else:
        assert fast == reference


def test_a_missing_file_is_a_dicom_error(tmp_path: Path) -> None:
    with pytest.raises(DicomError, match="cannot read"):
        read_header(tmp_path / "gone.dcm")


def test_header_json_round_trip(cirs_ct: Path) -> None:
    header = read_header(cirs_ct / "10.dcm")
    copy = header_from_json(header_to_json(header))
    assert copy == header
    assert isinstance(copy.image_position, tuple) and isinstance(copy.window_centers, tuple)


def test_source_file_untouched(tmp_path: Path) -> None:
    source = tmp_path / "ct.dcm"
    shutil.copy(pydicom.data.get_testdata_file("CT_small.dcm"), source)
    os.chmod(source, 0o444)  # read-only: reading must not need write access
    before = (source.read_bytes(), source.stat().st_mtime_ns)
    read_header(source)
    read_header_pydicom(source)
    assert (source.read_bytes(), source.stat().st_mtime_ns) == before
