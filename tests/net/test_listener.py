"""Our listener with dcmtk's storescu, findscu and getscu as independent clients, and its faults.

The listener runs in this process (a real TCP server on loopback); dcmtk's
tools run as separate processes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage

from tests.net.conftest import CT_SERIES, CT_STUDY, StateWatch, source_uids
from tests.net.orthanc import free_port, require_tool
from workstation import paths
from workstation.dicom.header import header_of_bytes, read_header
from workstation.dicom.library import Library
from workstation.net.listener import Listener

ALLOWED = ["STORESCU", "FINDSCU", "GETSCU", "PYNETDICOM"]
FEW = 12
PROPOSE = {"1.2.840.10008.1.2.1": "-xe", "1.2.840.10008.1.2": "-xi", "1.2.840.10008.1.2.2": "-xb",
           "1.2.840.10008.1.2.5": "-xr", "1.2.840.10008.1.2.4.70": "-xs", "1.2.840.10008.1.2.4.80": "-xt",
           "1.2.840.10008.1.2.4.90": "-xv"}
"""storescu's option proposing each transfer syntax of dcm_qa_ts."""


@pytest.fixture
def few_ct(tmp_path: Path, cirs_ct: Path) -> Path:
    folder = tmp_path / "few"
    folder.mkdir()
    for path in sorted(cirs_ct.iterdir())[:FEW]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture
def listening(workstation_home: Path) -> Iterator[tuple[Listener, StateWatch]]:
    watch = StateWatch()
    with Library() as library, Listener(library, "WORKSTATION", free_port(), allowed=ALLOWED,
                                        on_change=watch) as listener:
        yield listener, watch


def _dcmtk(tool: str, aet: str, listener: Listener, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool(tool), "-aet", aet, "-aec", listener.ae_title, *args, "127.0.0.1",
                           str(listener.port)] if tool != "storescu" else
                          [require_tool(tool), "-aet", aet, "-aec", listener.ae_title, "127.0.0.1",
                           str(listener.port), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "TCP_NODELAY": "1"})


def test_storescu_in_then_findscu_and_getscu_out(listening: tuple[Listener, StateWatch], few_ct: Path,
                                                 tmp_path: Path) -> None:
    listener, watch = listening
    sent = _dcmtk("storescu", "STORESCU", listener, "+sd", str(few_ct))
    assert sent.returncode == 0, sent.stderr
    watch.wait_for(lambda s: s.startswith("listening") and f"({FEW} objects)" not in s and listener.received == FEW)
    with Library() as library:
        (patient,) = library.tree()
    assert [(s.series_uid, s.instances, s.state) for s in patient.studies[0].series] == [(CT_SERIES, FEW, "complete")]

    found = tmp_path / "found"
    found.mkdir()
    done = _dcmtk("findscu", "FINDSCU", listener, "-S", "-X", "-od", str(found), "-k", "QueryRetrieveLevel=SERIES",
                  "-k", f"StudyInstanceUID={CT_STUDY}", "-k", "SeriesInstanceUID", "-k", "Modality",
                  "-k", "NumberOfSeriesRelatedInstances")
    assert done.returncode == 0, done.stderr
    (answer,) = [pydicom.dcmread(p) for p in found.iterdir()]
    assert (answer.SeriesInstanceUID, answer.Modality, int(answer.NumberOfSeriesRelatedInstances)) == (
        CT_SERIES, "CT", FEW)

    got = tmp_path / "got"
    got.mkdir()
    done = _dcmtk("getscu", "GETSCU", listener, "-S", "-od", str(got), "-k", "QueryRetrieveLevel=SERIES",
                  "-k", f"StudyInstanceUID={CT_STUDY}", "-k", f"SeriesInstanceUID={CT_SERIES}")
    assert done.returncode == 0, done.stderr
    fetched = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in got.iterdir()}
    expected = source_uids(few_ct)
    assert set(fetched) == set(expected)
    uid = next(iter(expected))
    assert pydicom.dcmread(fetched[uid]).PixelData == pydicom.dcmread(expected[uid]).PixelData


def test_receiving_until_the_association_ends(listening: tuple[Listener, StateWatch], few_ct: Path) -> None:
    listener, watch = listening
    ae = AE("PYNETDICOM")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.is_established
    for path in sorted(few_ct.iterdir())[:3]:
        assert assoc.send_c_store(path).Status == 0x0000
    with Library() as library:
        (patient,) = library.tree()
        assert (patient.studies[0].state, patient.studies[0].series[0].instances) == ("receiving", 3)
    watch.clear()
    assoc.release()
    watch.wait_for(lambda s: s.startswith("listening"))
    with Library() as library:
        assert library.tree()[0].studies[0].state == "complete"

    watch.clear()  # an aborted association leaves what arrived, marked incomplete
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    assert assoc.send_c_store(sorted(few_ct.iterdir())[3]).Status == 0x0000
    assoc.abort()
    watch.wait_for(lambda s: s.startswith("listening"))
    with Library() as library:
        study = library.tree()[0].studies[0]
        assert (study.state, study.series[0].instances) == ("incomplete", 4)


def test_unknown_caller_is_refused(listening: tuple[Listener, StateWatch], few_ct: Path) -> None:
    listener, _ = listening
    done = _dcmtk("storescu", "STRANGER", listener, "+sd", str(few_ct))
    assert done.returncode != 0 and "Rejected" in done.stderr + done.stdout
    with Library() as library:
        assert library.tree() == []


def test_unparsable_object_is_refused_and_nothing_written(listening: tuple[Listener, StateWatch],
                                                         tmp_path: Path) -> None:
    """A valid file meta followed by junk, sent byte for byte (pynetdicom sends files undecoded)."""
    listener, _ = listening
    junk = tmp_path / "junk.dcm"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7"
    meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    with open(junk, "wb") as f:
        f.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(f, meta)
        f.write(b"\xfe\xff\x00\xe0" + b"\xff" * 64)
    ae = AE("PYNETDICOM")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", listener.port, ae_title=listener.ae_title)
    status = assoc.send_c_store(junk)
    assoc.release()
    assert status.Status == 0xC210
    with Library() as library:
        assert library.counts()["instances"] == 0
    received = paths.received_dir()
    assert [p for p in received.rglob("*") if p.is_file()] == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: room for three of the CT's 0.5 MB objects."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs for the disk-full test: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_aborts_and_keeps_the_library_consistent(tiny_disk: Path, few_ct: Path,
                                                          workstation_home: Path) -> None:
    watch = StateWatch()
    with Library() as library, Listener(library, "WORKSTATION", free_port(), allowed=ALLOWED,
                                        received_root=tiny_disk, on_change=watch) as listener:
        done = _dcmtk("storescu", "STORESCU", listener, "+sd", str(few_ct))
        assert done.returncode != 0  # storescu saw the failure and the abort
        watch.wait_for(lambda s: s.startswith("listening") and any(x.startswith("receiving") for x in watch.lines))
        rows = library.instances(CT_STUDY)
        (patient,) = library.tree()
        assert patient.studies[0].state == "incomplete"
    files = sorted(p for p in tiny_disk.rglob("*") if p.is_file())
    assert 0 < len(rows) < FEW
    assert sorted(path for _, _, path in rows) == [str(p) for p in files]  # no partial file, no row without file
    expected = source_uids(few_ct)
    for _, sop, path in rows:
        assert Path(path).read_bytes()[-4096:] == expected[sop].read_bytes()[-4096:]


def test_listen_without_allowed_callers_refuses_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    from workstation.cli.main import main

    assert main(["pacs", "listen", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "allows no calling AE title" in err


def test_every_common_transfer_syntax_is_received_as_sent(listening: tuple[Listener, StateWatch],
                                                          dcm_qa_ts: Path) -> None:
    """Nine transfer syntaxes (uncompressed, big endian, RLE, JPEG lossless, JPEG-LS, JPEG 2000) from
    storescu: each lands unchanged, in its own syntax."""
    listener, watch = listening
    files = sorted((dcm_qa_ts / "In").glob("*.dcm"))
    for path in files:  # storescu proposes one family of syntaxes per run: the file's own
        syntax = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        done = _dcmtk("storescu", "STORESCU", listener, PROPOSE[syntax], str(path))
        assert done.returncode == 0, done.stderr
    watch.wait_for(lambda s: s.startswith("listening") and listener.received == len(files))
    sent = {str(d.SOPInstanceUID): str(d.file_meta.TransferSyntaxUID)
            for d in (pydicom.dcmread(p, stop_before_pixels=True) for p in files)}
    assert len(set(sent.values())) == 7
    with Library() as library:
        rows = library.instances(str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID))
    received = {sop: str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for _, sop, path in rows}
    assert received == sent


def test_a_received_object_is_read_from_memory_as_from_its_file(dcm_qa_ts: Path, cirs_ct: Path) -> None:
    """What a transfer indexes (the header of the bytes received, before they are written) is the header a
    read of the written file gives, for the transfer syntaxes of dcm_qa_ts (big endian through pydicom)
    and the CT."""
    for path in [*sorted((dcm_qa_ts / "In").glob("*.dcm")), sorted(cirs_ct.iterdir())[0]]:
        from_file = dataclasses.replace(read_header(path), mtime_ns=0)
        assert header_of_bytes(path.read_bytes(), path) == from_file, path.name
