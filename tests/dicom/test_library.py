"""The study library on a real SQLite file: imports, re-scans, queries, interruptions, damage."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pydicom.data
import pytest

from workstation.dicom.assemble import assemble
from workstation.dicom.library import SCHEMA_VERSION, Library
from workstation.dicom.scan import scan_folder
from workstation.errors import Cancelled
from workstation.jobs import CancelToken, no_progress

CT_SERIES = "1.2.840.113619.2.290.3.3233817346.783.1399004564.515"
MR_SERIES = "1.3.12.2.1107.5.2.18.41548.30000014030519285935000000933"


def _copy_slices(ct: Path, folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for n in range(1, count + 1):
        shutil.copy(ct / f"{n}.dcm", folder / f"{n}.dcm")
    return folder


def _link_all(source: Path, folder: Path) -> Path:
    """The files of ``source`` reached through links: a large folder without copying its bytes."""
    folder.mkdir(parents=True)
    for path in sorted(source.rglob("*.dcm")):
        (folder / f"{path.parent.name}-{path.name}").symlink_to(path)
    return folder


def _consistent(library_path: Path) -> dict[str, int]:
    """Check the file the way a fresh process would; returns rows per table."""
    conn = sqlite3.connect(library_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT COUNT(*) FROM series WHERE id NOT IN (SELECT series FROM instances)"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM instances WHERE header NOT LIKE '{%}'").fetchone()[0] == 0
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("patients", "studies", "series", "instances")}
    finally:
        conn.close()


def test_import_and_reassemble_without_reading_files(tmp_path: Path, cirs_ct: Path) -> None:
    with Library(tmp_path / "library.sqlite") as library:
        result = library.import_folder(no_progress, None, cirs_ct)
        assert (result.new, result.files_read, result.series_uids) == (283, 283, [CT_SERIES])
        assert library.counts() == {"patients": 1, "studies": 1, "series": 1, "instances": 283, "skipped_files": 0}
        stored = library.series_headers(CT_SERIES)
    scanned = scan_folder(no_progress, None, cirs_ct).headers
    assert sorted(stored, key=lambda h: h.path) == scanned
    (from_library,), (from_files,) = assemble(stored), assemble(scanned)
    assert from_library.size == from_files.size == [512, 512, 283]
    assert (from_library.affine == from_files.affine).all()
    assert [f.header.path for f in from_library.frames] == [f.header.path for f in from_files.frames]


def test_rescan_reads_only_new_or_changed_files(tmp_path: Path, cirs_ct: Path) -> None:
    folder = _copy_slices(cirs_ct, tmp_path / "ct", 12)
    (folder / "README").write_text("not an image")
    with Library(tmp_path / "library.sqlite") as library:
        first = library.import_folder(no_progress, None, folder)
        assert (first.new, first.files_read, len(first.skipped)) == (13, 12, 1)

        again = library.import_folder(no_progress, None, folder)
        assert (again.new, again.changed, again.unchanged, again.files_read) == (0, 0, 13, 0)
        assert [Path(p).name for p, _ in again.skipped] == ["README"]  # remembered, not read again

        stat = (folder / "5.dcm").stat()
        os.utime(folder / "5.dcm", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        shutil.copy(cirs_ct / "13.dcm", folder / "13.dcm")
        touched = library.import_folder(no_progress, None, folder)
        assert (touched.new, touched.changed, touched.unchanged, touched.files_read) == (1, 1, 12, 2)
        header = next(h for h in library.series_headers(CT_SERIES) if h.path.endswith("5.dcm"))
        assert header.mtime_ns == stat.st_mtime_ns + 1_000_000_000

        (folder / "7.dcm").unlink()
        gone = library.import_folder(no_progress, None, folder)
        assert (gone.removed, gone.files_read) == (1, 0)
        assert len(library.series_headers(CT_SERIES)) == 12

        (folder / "8.dcm").write_text("overwritten by a careless script")
        spoiled = library.import_folder(no_progress, None, folder)
        assert (spoiled.changed, spoiled.files_read) == (1, 0)
        assert len(library.series_headers(CT_SERIES)) == 11
        assert sorted(Path(p).name for p, _ in spoiled.skipped) == ["8.dcm", "README"]

        shutil.rmtree(folder)
        folder.mkdir()
        library.import_folder(no_progress, None, folder)
        assert library.counts() == {"patients": 0, "studies": 0, "series": 0, "instances": 0, "skipped_files": 0}


def test_sources_never_modified(tmp_path: Path, cirs_ct: Path) -> None:
    folder = _copy_slices(cirs_ct, tmp_path / "ct", 10)

    def fingerprint() -> list[tuple[str, str, int]]:
        return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
                for p in sorted(folder.iterdir())]

    before = fingerprint()
    with Library(tmp_path / "library.sqlite") as library:
        library.import_folder(no_progress, None, folder, workers=2)
        library.import_folder(no_progress, None, folder)
    assert fingerprint() == before


def test_queries_for_the_browser(tmp_path: Path, cirs_ct: Path, cirs_mr: Path, decubitus: Path) -> None:
    with Library(tmp_path / "library.sqlite") as library:
        for folder in (cirs_ct, cirs_mr, decubitus):
            library.import_folder(no_progress, None, folder)
        everything = library.tree()
        assert sum(len(st.series) for p in everything for st in p.studies) == 6
        assert [s.series_uid for p in library.tree(modality="CT") for st in p.studies for s in st.series] == \
               [CT_SERIES]
        by_name = library.tree(search="zy05")  # part of the MR's patient name, any case
        assert [s.series_uid for p in by_name for st in p.studies for s in st.series] == [MR_SERIES]
        by_id = library.tree(search="crlab")
        assert [p.patient_id for p in by_id] == ["crlab"] and len(by_id[0].studies) == 4
        dates = library.tree(date_from="20140401", date_to="20141231")
        assert [st.study_date for p in dates for st in p.studies] == ["20140502"]
        assert library.tree(search="100%_not_there") == []
        under = library.tree(folder=decubitus / "HFP")
        assert [s.instances for p in under for st in p.studies for s in st.series] == [35]
        assert len(library.series_headers(MR_SERIES)) == 352


def test_cancel_leaves_complete_rows_and_a_rescan_finishes(tmp_path: Path, cirs_mr: Path) -> None:
    cancel = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.2:
            cancel.set()

    path = tmp_path / "library.sqlite"
    with Library(path) as library:
        with pytest.raises(Cancelled):
            library.import_folder(progress, cancel, cirs_mr)
    partial = _consistent(path)
    assert 0 < partial["instances"] < 352
    with Library(path) as library:
        result = library.import_folder(no_progress, None, cirs_mr)
        assert result.new == 352 - partial["instances"]
        assert len(library.series_headers(MR_SERIES)) == 352


_IMPORT_SCRIPT = """
import sys
from workstation.dicom.library import Library
def progress(fraction, message):
    print(message, flush=True)
    if message.startswith("reading headers (96 of"):  # three batches are committed, more to come:
        sys.stdin.read()  # wait here, between transactions, until the test kills this process
Library(sys.argv[1]).import_folder(progress, None, sys.argv[2], workers=0)
print("finished", flush=True)
"""


def test_killed_import_leaves_a_consistent_library(tmp_path: Path, cirs_ct: Path, cirs_mr: Path) -> None:
    folder = _link_all(cirs_ct.parent, tmp_path / "both")
    path = tmp_path / "library.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _IMPORT_SCRIPT, str(path), str(folder)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.startswith("reading headers (96 of"):  # the child waits there for the kill
                child.send_signal(signal.SIGKILL)
                break
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.kill()
        child.stdin.close()
        child.stdout.close()
    partial = _consistent(path)
    assert partial["instances"] == 96
    with Library(path) as library:
        result = library.import_folder(no_progress, None, folder)
        assert result.unchanged == partial["instances"] and result.new == 635 - partial["instances"]
        assert library.counts()["instances"] == 635
    assert _consistent(path)["series"] == 2


_HELD_IMPORT_SCRIPT = """
import sys
from workstation.dicom.library import Library

class HeldInThirdBatch(Library):
    # the real import, stopped inside the third batch's transaction: its rows written, not committed
    batches = 0

    def _store(self, conn, headers, skipped):
        super()._store(conn, headers, skipped)
        HeldInThirdBatch.batches += 1
        if HeldInThirdBatch.batches == 3:
            rows = conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0]  # the transaction sees its own
            print("inside", rows, len(headers), flush=True)
            sys.stdin.read()  # hold the transaction open until the test kills this process

HeldInThirdBatch(sys.argv[1]).import_folder(None, None, sys.argv[2], workers=0)
"""


def test_import_killed_inside_a_transaction_leaves_the_committed_batches(tmp_path: Path, cirs_ct: Path) -> None:
    """SIGKILL while a batch's rows are written but not committed: that batch is gone, whole; a re-scan adds it."""
    path = tmp_path / "library.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _HELD_IMPORT_SCRIPT, str(path), str(cirs_ct)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        assert line[:1] == ["inside"], line
        in_transaction, batch = int(line[1]), int(line[2])
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        child.kill()
        child.stdin.close()
        child.stdout.close()
    assert batch > 0 and (tmp_path / "library.sqlite-wal").exists()  # killed with the write-ahead log open
    partial = _consistent(path)
    assert partial["instances"] == in_transaction - batch  # the two committed batches, none of the third
    with Library(path) as library:
        result = library.import_folder(no_progress, None, cirs_ct)
        assert result.unchanged == partial["instances"] and result.new == 283 - partial["instances"]
        assert len(library.series_headers(CT_SERIES)) == 283
    assert _consistent(path)["series"] == 1


def test_damaged_file_is_moved_aside_and_rebuilt(tmp_path: Path, cirs_ct: Path) -> None:
    path = tmp_path / "library.sqlite"
    folder = _copy_slices(cirs_ct, tmp_path / "ct", 3)
    with Library(path) as library:
        library.import_folder(no_progress, None, folder)
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # the header page and schema: SQLite cannot read this
    path.write_bytes(bytes(data))
    with Library(path) as library:
        assert library.rebuilt is not None and "damaged" in library.rebuilt
        assert library.counts()["instances"] == 0
        assert library.import_folder(no_progress, None, folder).new == 3
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("library.sqlite.corrupt-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == bytes(data)  # kept as it was, for whoever wants it
    assert len(list(folder.iterdir())) == 3


def test_not_a_database_at_all(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite"
    path.write_text("this is not SQLite")
    with Library(path) as library:
        assert library.rebuilt is not None
        assert library.tree() == []


def test_other_schema_version_is_rebuilt_keeping_the_folder_list(tmp_path: Path, cirs_ct: Path) -> None:
    path = tmp_path / "library.sqlite"
    folder = _copy_slices(cirs_ct, tmp_path / "ct", 2)
    with Library(path) as library:
        library.import_folder(no_progress, None, folder)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with Library(path) as library:
        assert "schema version" in library.rebuilt
        assert library.folders() == [(str(folder), None)]  # known, waiting to be imported again
        assert library.counts()["instances"] == 0


def test_dicomdir_folder(tmp_path: Path) -> None:
    tree = Path(pydicom.data.get_testdata_file("DICOMDIR")).parent / "TINY_ALPHA"
    with Library(tmp_path / "library.sqlite") as library:
        result = library.import_folder(no_progress, None, tree / "DICOMDIR")
        assert (result.files_read, result.dicomdirs) == (50, [str(tree / "DICOMDIR")])
        assert len(library.tree(folder=tree)) == 1


def test_readers_in_threads_during_an_import(tmp_path: Path, cirs_mr: Path) -> None:
    errors: list[BaseException] = []
    with Library(tmp_path / "library.sqlite") as library:
        done = threading.Event()

        def browse() -> None:
            try:
                while not done.is_set():
                    for patient in library.tree():
                        for study in patient.studies:
                            for series in study.series:
                                library.series_headers(series.series_uid)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        readers = [threading.Thread(target=browse) for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            library.import_folder(no_progress, None, cirs_mr)
        finally:
            done.set()
            for reader in readers:
                reader.join()
        assert not errors
        assert library.counts()["instances"] == 352


def test_seg_and_rtstruct_are_filed_under_the_series_they_were_drawn_on(tmp_path: Path, seg_samples: Path) -> None:
    import pydicom as dicom

    def series_of(path: Path) -> str:
        return str(dicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)

    images = seg_samples / "dcmqi" / "24x38x3" / "image"
    seg = seg_samples / "dcmqi" / "24x38x3" / "seg" / "label.seg"
    sparse = seg_samples / "dcmqi" / "sparse-labelmap-ppv5.dcm"  # another SEG on the same images
    rt = seg_samples / "rt-utils"
    folder = tmp_path / "in"
    folder.mkdir()
    for n, path in enumerate([*images.iterdir(), seg, sparse, *rt.glob("*.dcm")]):
        (folder / f"{n}-{path.name}").symlink_to(path)
    with Library(tmp_path / "library.sqlite") as library:
        library.import_folder(no_progress, None, folder)
        rows = {row.series_uid: row for p in library.tree() for st in p.studies for row in st.series}
        image_series, ct_series = series_of(next(images.iterdir())), series_of(rt / "ct_1.dcm")
        assert {s.series_uid for s in rows[image_series].segmentations} == {series_of(seg), series_of(sparse)}
        assert [s.modality for s in rows[ct_series].segmentations] == ["RTSTRUCT"]
        assert series_of(seg) not in rows and series_of(rt / "rt.dcm") not in rows  # not listed as series alone
        assert sorted(Path(p).name for p in library.segmentations_of(image_series)) == sorted(
            f.name for f in folder.iterdir() if f.name.endswith(("label.seg", "ppv5.dcm")))
        assert [Path(p).name for p in library.segmentations_of(ct_series)] == [
            next(f.name for f in folder.iterdir() if f.name.endswith("rt.dcm"))]


def test_label_objects_list_what_the_headers_say_also_when_stored_before_the_summary(tmp_path: Path,
                                                                                      seg_samples: Path) -> None:
    """The browser's rows of SEG/RTSTRUCT files, against pydicom; a library written before the library kept the
    label, segment count, tool and date (headers without them) still lists them, read from the file."""
    import json

    import pydicom as dicom

    rt = seg_samples / "rt-utils"
    with Library(tmp_path / "library.sqlite") as library:
        library.import_folder(no_progress, None, rt)
        first = library.label_objects()
        conn = sqlite3.connect(library.path)
        with conn:
            for row_id, text in conn.execute("SELECT id, header FROM instances").fetchall():
                header = json.loads(text)
                extra = header["extra"]
                assert "label" in extra or not extra  # the summary is stored with a SEG/RTSTRUCT's header
                header["extra"] = {k: v for k, v in extra.items() if k == "referenced_series_uids"}
                conn.execute("UPDATE instances SET header = ? WHERE id = ?", (json.dumps(header), row_id))
        conn.close()
        assert library.label_objects() == first
    ds = dicom.dcmread(rt / "rt.dcm", stop_before_pixels=True)
    [row] = first
    assert Path(row["path"]) == (rt / "rt.dcm").resolve() and row["modality"] == "RTSTRUCT"  # CI reaches it by ../
    assert row["references"] == [str(dicom.dcmread(rt / "ct_1.dcm", stop_before_pixels=True).SeriesInstanceUID)]
    assert (row["label"], row["segments"], row["date"]) == (ds.SeriesDescription, len(ds.StructureSetROISequence),
                                                            ds.StructureSetDate)
    assert ds.Manufacturer in row["tool"] and row["study_uid"] == ds.StudyInstanceUID
