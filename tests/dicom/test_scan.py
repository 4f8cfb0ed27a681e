"""Folder scans on real data: walks, DICOMDIRs, non-DICOM files, parallel reads and cancel."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pydicom.data
import pytest

from workstation.dicom.header import read_header
from workstation.dicom.scan import list_files, scan_folder
from workstation.errors import Cancelled, DicomError
from workstation.jobs import CancelToken, no_progress

DICOMDIR_TREE = Path(pydicom.data.get_testdata_file("DICOMDIR")).parent


def test_decubitus_folder(decubitus: Path) -> None:
    result = scan_folder(no_progress, None, decubitus)
    assert result.files_read == 4 * 35
    assert {h.series_uid for h in result.headers} and len({h.study_uid for h in result.headers}) == 4
    assert result.skipped_reasons() == {"not a DICOM file": 4}  # the four dcmdump listings
    assert sorted(Path(p).name for p, _ in result.skipped) == ["HFDL.txt", "HFDR.txt", "HFP.txt", "HFS.txt"]
    assert result.files_seen == 144


def _mixed_folder(root: Path, ct: Path, nifti: Path) -> Path:
    """A research dump: DICOM with and without extension and preamble, notes, NIfTI, hidden files, links."""
    folder = root / "dump"
    (folder / "a" / "b").mkdir(parents=True)
    for n in range(1, 4):
        shutil.copy(ct / f"{n}.dcm", folder / "a" / f"{n}.dcm")
    shutil.copy(ct / "4.dcm", folder / "a" / "b" / "IM0004")  # no extension
    (folder / "a" / "b" / "IM0005").write_bytes((ct / "5.dcm").read_bytes()[132:])  # no preamble
    shutil.copy(nifti, folder / "volume.nii")
    (folder / "README").write_text("exported by hand\n")
    (folder / "notes.txt").write_text("slice 3 looks odd\n")
    (folder / "empty").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    (folder / ".hidden").mkdir()
    shutil.copy(ct / "6.dcm", folder / ".hidden" / "6.dcm")
    (folder / "a" / "b" / "loop").symlink_to(folder)  # a link back up: must not loop
    (folder / "same-as-1.dcm").symlink_to(folder / "a" / "1.dcm")  # the same file twice: read once
    (folder / "dangling").symlink_to(folder / "nowhere")
    return folder


def test_mixed_folder(tmp_path: Path, cirs_ct: Path, shared_data: Path) -> None:
    folder = _mixed_folder(tmp_path, cirs_ct, shared_data / "dcm_qa_ts" / "Ref" / "1.nii")
    result = scan_folder(no_progress, None, folder)
    assert sorted(h.instance_number for h in result.headers) == sorted(
        read_header(cirs_ct / f"{n}.dcm").instance_number for n in range(1, 6))
    assert result.skipped_reasons() == {"not a DICOM file": 4, "hidden file or folder": 2, "not readable": 1}
    skipped = {Path(p).name: reason for p, reason in result.skipped}
    assert set(skipped) == {"volume.nii", "README", "notes.txt", "empty", ".DS_Store", ".hidden", "dangling"}
    no_preamble = next(h for h in result.headers if h.path.endswith("IM0005"))
    assert no_preamble.series_uid == read_header(cirs_ct / "5.dcm").series_uid


def test_parallel_and_sequential_reads_agree(cirs_mr: Path) -> None:
    sequential = scan_folder(no_progress, None, cirs_mr, workers=0)
    parallel = scan_folder(no_progress, None, cirs_mr, workers=2)
    assert sequential.files_read == 352
    assert parallel.headers == sequential.headers
    assert parallel.skipped == sequential.skipped
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("workers", [0, 2])
def test_cancel_stops_the_scan(cirs_mr: Path, workers: int) -> None:
    cancel = CancelToken()
    reports: list[float] = []

    def progress(fraction: float, message: str) -> None:
        reports.append(fraction)
        if fraction > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        scan_folder(progress, cancel, cirs_mr, workers=workers)
    after_cancel = [f for f in reports if f > 0]
    assert len(after_cancel) == 1 and after_cancel[0] < 0.5  # stopped at once: nothing reported after the cancel
    assert not multiprocessing.active_children()


def _copy_as_cd(source: Path, target: Path) -> Path:
    """A CD copy gone wrong in the usual ways: lower-case names and ';1' version suffixes."""
    for folder, _, names in os.walk(source):
        relative = Path(folder).relative_to(source)
        destination = target / Path(*[part.lower() for part in relative.parts])
        destination.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name.startswith("DICOMDIR") and name != "DICOMDIR" or name == "README.txt":
                continue  # keep the one real index
            shutil.copy(Path(folder) / name, destination / (name if name == "DICOMDIR" else f"{name.lower()};1"))
    return target


def test_dicomdir_of_a_cd_copy(tmp_path: Path) -> None:
    cd = _copy_as_cd(DICOMDIR_TREE, tmp_path / "cd")
    listing = list_files(no_progress, None, cd)
    assert [Path(p).relative_to(cd) for p in listing.dicomdirs] == [Path("DICOMDIR"), Path("tiny_alpha/DICOMDIR")]
    result = scan_folder(no_progress, None, cd)
    assert result.files_read == 31 + 50  # every file both DICOMDIRs list, found despite the renamed copies
    assert [(Path(p).name, r.split(" (")[0]) for p, r in result.skipped] == [("readme;1", "not a DICOM file")]


def test_dicomdir_lists_a_missing_file(tmp_path: Path) -> None:
    cd = _copy_as_cd(DICOMDIR_TREE / "TINY_ALPHA", tmp_path / "cd")
    victim = next((cd / "pt000000" / "st000000" / "se000000").iterdir())
    victim.unlink()
    result = scan_folder(no_progress, None, cd / "DICOMDIR")  # the DICOMDIR itself can be opened
    assert result.files_read == 49
    assert result.skipped_reasons() == {"listed in a DICOMDIR but missing": 1}


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DicomError, match="no such file or folder"):
        scan_folder(no_progress, None, tmp_path / "unplugged-usb-drive")


def test_sources_are_not_modified(tmp_path: Path, cirs_ct: Path, shared_data: Path) -> None:
    folder = _mixed_folder(tmp_path, cirs_ct, shared_data / "dcm_qa_ts" / "Ref" / "1.nii")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    before = [(p.read_bytes(), p.stat().st_mtime_ns) for p in files]
    scan_folder(no_progress, None, folder, workers=2)
    assert [(p.read_bytes(), p.stat().st_mtime_ns) for p in files] == before
