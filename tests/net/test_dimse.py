"""DIMSE against a real Orthanc: echo, find at three levels, retrieve by C-GET and C-MOVE, send.

References are independent: pydicom's reading of the source files, and
Orthanc's own REST API for what it stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from tests.net.conftest import CT_SERIES, CT_STUDY, MR_SERIES, source_uids
from tests.net.orthanc import Orthanc
from workstation.cli.main import main
from workstation.net.nodes import Settings


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    return json.loads(capsys.readouterr().out)


def test_echo(pacs_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "echo", "orthanc"]) == 0
    assert "C-ECHO succeeded" in capsys.readouterr().out


def test_find_at_each_level_matches_the_files(pacs_settings: Settings, cirs_ct: Path, cirs_mr: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ct = pydicom.dcmread(next(cirs_ct.iterdir()), stop_before_pixels=True)
    mr = pydicom.dcmread(next(cirs_mr.iterdir()), stop_before_pixels=True)

    assert main(["pacs", "find", "orthanc", "--level", "patient", "--json"]) == 0
    assert {(p["PatientID"], p["PatientName"]) for p in _json(capsys)} >= {
        (ct.PatientID, str(ct.PatientName)), (mr.PatientID, str(mr.PatientName))}

    assert main(["pacs", "find", "orthanc", "--patient-name", str(ct.PatientName)[:2] + "*", "--json"]) == 0
    studies = _json(capsys)
    assert [s["StudyInstanceUID"] for s in studies] == [ct.StudyInstanceUID]
    assert studies[0]["NumberOfStudyRelatedInstances"] == str(len(list(cirs_ct.iterdir())))

    assert main(["pacs", "find", "orthanc", "--study-date", f"{mr.StudyDate}-{mr.StudyDate}", "--json"]) == 0
    assert [s["StudyInstanceUID"] for s in _json(capsys)] == [mr.StudyInstanceUID]

    assert main(["pacs", "find", "orthanc", "--level", "series", "--modality", "MR", "--json"]) == 0
    series = _json(capsys)
    assert [(s["SeriesInstanceUID"], s["NumberOfSeriesRelatedInstances"]) for s in series] == [
        (MR_SERIES, str(len(list(cirs_mr.iterdir()))))]

    assert main(["pacs", "find", "orthanc", "--level", "series", "--study-uid", CT_STUDY, "--json"]) == 0
    assert [(s["SeriesInstanceUID"], s["Modality"], s["SeriesDescription"]) for s in _json(capsys)] == [
        (CT_SERIES, "CT", ct.SeriesDescription)]


def test_retrieve_by_get_keeps_a_copy_and_logs_no_identity(pacs_settings: Settings, cirs_ct: Path, tmp_path: Path,
                                                          workstation_home: Path) -> None:
    out = tmp_path / "kept"
    done = subprocess.run([sys.executable, "-m", "workstation", "pacs", "retrieve", "orthanc", "--study-uid",
                           CT_STUDY, "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "283 objects received" in done.stdout

    expected = source_uids(cirs_ct)
    kept = {p.stem: p for p in (out / CT_SERIES).iterdir()}
    assert set(kept) == set(expected)
    for uid in list(expected)[::40]:  # the objects are the sources', value for value
        ours, source = pydicom.dcmread(kept[uid]), pydicom.dcmread(expected[uid])
        # Orthanc re-encodes private tags it knows and drops group lengths (retired): compare the rest
        assert [str(e.tag) for e in source if not e.tag.is_private and e.tag.element != 0
                and (e.tag not in ours or ours[e.tag].value != e.value)] == []

    listing = subprocess.run([sys.executable, "-m", "workstation", "library", "list", "--json"],
                             capture_output=True, text=True, timeout=120)
    (patient,) = json.loads(listing.stdout)
    (study,) = patient["studies"]
    assert (study["study_uid"], study["state"], study["instances"]) == (CT_STUDY, "complete", 283)
    assert [(s["series_uid"], s["instances"], s["state"]) for s in study["series"]] == [(CT_SERIES, 283, "complete")]

    log = (workstation_home / "logs" / "workstation.log").read_text()
    assert patient["patient_id"] not in log and "ZY05MAR2014" not in log


def test_retrieve_by_move_to_our_listener(pacs_settings: Settings, cirs_mr: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "retrieve", "orthanc", "--study-uid", pydicom.dcmread(
        next(cirs_mr.iterdir()), stop_before_pixels=True).StudyInstanceUID, "--series-uid", MR_SERIES,
        "--method", "move"]) == 0
    assert "352 objects received" in capsys.readouterr().out
    assert main(["library", "list", "--json"]) == 0
    (patient,) = _json(capsys)
    assert [(s["series_uid"], s["instances"], s["state"]) for s in patient["studies"][0]["series"]] == [
        (MR_SERIES, 352, "complete")]


def test_send_series_and_other_transfer_syntaxes(tmp_path: Path, dcm_qa_ts: Path, cirs_ct: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """C-STORE to an empty Orthanc; Orthanc's REST API says what arrived, in which transfer syntax."""
    server = Orthanc(tmp_path / "orthanc").start()
    try:
        files = sorted(cirs_ct.iterdir())[:5]
        syntaxes = sorted(p for p in dcm_qa_ts.rglob("*.dcm"))
        assert syntaxes, "dcm_qa_ts holds no .dcm files"
        assert main(["pacs", "send", server.node, *map(str, files), *map(str, syntaxes)]) == 0
        assert f"{len(files) + len(syntaxes)} files sent" in capsys.readouterr().out
        stored = {}
        for instance in server.get("/instances"):
            tags = server.get(f"/instances/{instance}/simplified-tags")
            meta = server.get(f"/instances/{instance}/metadata?expand")
            stored[tags["SOPInstanceUID"]] = server.get(f"/instances/{instance}")["FileSize"], meta
        sources = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in [*files, *syntaxes]}
        assert set(stored) == sources
    finally:
        server.stop()


def test_only_our_associations_read_a_pdu_at_a_time(orthanc: Orthanc) -> None:
    """Our one-read-a-PDU socket is set on our associations' sockets, not on pynetdicom's class: another
    pynetdicom user in the process keeps pynetdicom's own reads."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification
    from pynetdicom.transport import AssociationSocket

    from workstation.net import dimse
    from workstation.net.nodes import parse_node

    assert AssociationSocket.recv.__module__ == "pynetdicom.transport"
    seen: dict[str, object] = {}

    def record(who: str):  # noqa: ANN202 - an EVT_CONN_OPEN handler
        return evt.EVT_CONN_OPEN, lambda event: seen.__setitem__(who, event.assoc.dul.socket.recv)

    ours = dimse.make_ae("WORKSTATION")
    ours.add_requested_context(Verification)
    assoc = dimse.associate(ours, parse_node(orthanc.node), [record("ours")])
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()

    other = AE(ae_title="OTHERUSER")
    other.add_requested_context(Verification)
    assoc = other.associate("127.0.0.1", orthanc.dicom_port, ae_title="ORTHANC", evt_handlers=[record("other")])
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()

    assert seen["ours"].__func__ is dimse._recv
    assert seen["other"].__func__ is AssociationSocket.recv


def _orthanc_echoes_us(orthanc: Orthanc) -> bool:
    """Orthanc's own C-ECHO to its modality WORKSTATION (our listener's port): an independent caller."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{orthanc.http_port}/modalities/workstation/echo",
                                     data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30):
            return True
    except urllib.error.HTTPError:
        return False


def test_move_through_the_listener_already_on_our_port(pacs_settings: Settings, orthanc: Orthanc,
                                                       cirs_mr: Path) -> None:
    """The GUI listens on the port Orthanc knows for us: a C-MOVE retrieve receives through that listener,
    into its own transfer, and the listener's allow-list is as before once the move ends."""
    from workstation.dicom.library import Library
    from workstation.net import dimse
    from workstation.net.listener import Listener
    from workstation.net.nodes import parse_node

    study = str(pydicom.dcmread(next(cirs_mr.iterdir()), stop_before_pixels=True).StudyInstanceUID)
    with Library() as library, Listener(library, "WORKSTATION", pacs_settings.listen_port,
                                        allowed=["STORESCU"]) as listener:
        assert not _orthanc_echoes_us(orthanc)  # ORTHANC is not on the listener's list
        received = dimse.retrieve(None, None, parse_node("orthanc", pacs_settings), study, MR_SERIES, "move",
                                  settings=pacs_settings, library=library, listener=listener)
        assert received == 352
        (patient,) = library.tree()
        assert [(s.series_uid, s.instances, s.state) for s in patient.studies[0].series] == [
            (MR_SERIES, 352, "complete")]
        assert listener.state.startswith("listening on")
        assert not _orthanc_echoes_us(orthanc)  # the move's permission ended with it
        assert {sop for _, sop, _ in library.instances(study)} == set(source_uids(cirs_mr))


def test_move_while_another_program_holds_our_port(pacs_settings: Settings, cirs_mr: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    study = str(pydicom.dcmread(next(cirs_mr.iterdir()), stop_before_pixels=True).StudyInstanceUID)
    with socket.socket() as other:  # a listening socket holds the port even against SO_REUSEADDR
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port's earlier connections linger
        other.bind(("127.0.0.1", pacs_settings.listen_port))
        other.listen(1)
        assert main(["pacs", "retrieve", "orthanc", "--study-uid", study, "--series-uid", MR_SERIES,
                     "--method", "move"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert f"our port {pacs_settings.listen_port}" in err and "--method get" in err
