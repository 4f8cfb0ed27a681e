"""Faults against real peers: a server killed mid-retrieve, refusals, timeouts, wrong ports. One line each."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.net.conftest import CT_SERIES, CT_STUDY, source_uids
from tests.net.orthanc import Orthanc, free_port
from workstation import paths
from workstation.cli.main import main
from workstation.dicom.library import Library
from workstation.errors import NetworkError
from workstation.net import dimse, web
from workstation.net.nodes import Settings, parse_node


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_wrong_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "echo", f"ORTHANC@127.0.0.1:{free_port()}"]) == 2
    assert "connection refused" in _one_line_error(capsys)


def test_unknown_called_ae_is_rejected(orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    """Orthanc rejects and closes; pynetdicom sees the rejection, or now and then (about 1 in 4 here) only the
    close: either way one line that points at the AE titles."""
    assert main(["pacs", "echo", f"NOBODY@127.0.0.1:{orthanc.dicom_port}"]) == 2
    err = _one_line_error(capsys)
    assert "rejected the association" in err or "closed or aborted before the association was accepted" in err
    assert "is its AE title NOBODY?" in err


def test_unknown_calling_ae_gets_no_answer(orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    """Orthanc knows WORKSTATION only: a stranger's query is refused."""
    assert main(["pacs", "find", orthanc.node, "--ae-title", "STRANGER", "--json"]) == 2
    err = _one_line_error(capsys)
    assert "does it know our AE title STRANGER?" in err


def test_timeout_when_the_peer_never_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts TCP connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        assert main(["pacs", "echo", f"SILENT@127.0.0.1:{port}", "--timeout", "1"]) == 2
    assert "timeout" in _one_line_error(capsys)


@pytest.mark.parametrize("protocol", ["get", "move", "wado"])
def test_server_killed_mid_retrieve_then_completed(orthanc: Orthanc, tmp_path: Path, cirs_ct: Path,
                                                   move_port: int, protocol: str) -> None:
    """SIGKILL after 50 objects: one line naming what is missing, the study incomplete, a row for each file
    landed (WADO-RS indexes in batches); a second retrieve completes it with each object once."""
    server = orthanc.clone(tmp_path / "clone").start()
    try:
        settings = Settings(listen_port=move_port)  # the clone knows our AE title at this port

        def fetch(progress: object) -> int:
            if protocol != "wado":
                return dimse.retrieve(progress, None, parse_node(server.node), CT_STUDY, method=protocol,
                                      settings=settings)
            return web.retrieve(progress, None, parse_node(server.url), CT_STUDY)

        def kill_after_50(fraction: float, message: str) -> None:
            if fraction * 283 >= 50:  # progress counts what the server has sent and we acknowledged
                server.kill()

        with pytest.raises(NetworkError) as caught:
            fetch(kill_after_50)
        message = str(caught.value)
        assert "\n" not in message and "of 283 objects received" in message and "missing" in message
        assert "does it know our AE title" not in message  # a lost server is not a refusal
        series_dir = paths.received_dir() / CT_STUDY / CT_SERIES
        with Library() as library:
            (patient,) = library.tree()
            assert patient.studies[0].state == "incomplete"
            rows = library.instances(CT_STUDY)
            assert 50 <= len(rows) < 283
            assert sorted(path for _, _, path in rows) == sorted(str(p) for p in series_dir.iterdir())

        server.start()
        assert fetch(None) == 283
        with Library() as library:
            (patient,) = library.tree()
            assert patient.studies[0].state == "complete"
            rows = library.instances(CT_STUDY)
        assert len(rows) == 283 and {sop for _, sop, _ in rows} == set(source_uids(cirs_ct))
        on_disk = sorted(p.name for p in series_dir.iterdir())
        assert on_disk == sorted(f"{sop}.dcm" for sop in source_uids(cirs_ct))  # each once, no partial file
    finally:
        server.stop()


def test_library_list_reports_state(capsys: pytest.CaptureFixture[str]) -> None:
    """An empty library lists as an empty JSON array (scripts parse it)."""
    assert main(["library", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
