"""DICOMweb against Orthanc's plugin: QIDO-RS, WADO-RS, STOW-RS, basic authentication."""

from __future__ import annotations

import http.server
import json
import ssl
import subprocess
import threading
from pathlib import Path

import pydicom
import pytest

from tests.net.conftest import CT_SERIES, CT_STUDY, source_uids
from tests.net.orthanc import Orthanc
from workstation.cli.main import main
from workstation.dicom.library import Library
from workstation.errors import NetworkError
from workstation.net import web
from workstation.net.dimse import Query
from workstation.net.nodes import Node, Settings, save_settings


def test_qido_and_wado_series(pacs_settings: Settings, cirs_ct: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", "orthanc-web", "--level", "series", "--modality", "CT", "--json"]) == 0
    assert [(s["SeriesInstanceUID"], s["NumberOfSeriesRelatedInstances"]) for s in
            json.loads(capsys.readouterr().out)] == [(CT_SERIES, str(len(list(cirs_ct.iterdir()))))]

    assert main(["pacs", "retrieve", "orthanc-web", "--study-uid", CT_STUDY, "--series-uid", CT_SERIES]) == 0
    assert "283 objects received" in capsys.readouterr().out
    with Library() as library:
        (patient,) = library.tree()
        assert patient.studies[0].state == "complete"
        rows = library.instances(CT_STUDY)
    expected = source_uids(cirs_ct)
    assert {sop for _, sop, _ in rows} == set(expected) and len(rows) == 283
    _, sop, path = rows[100]
    assert pydicom.dcmread(path).PixelData == pydicom.dcmread(expected[sop]).PixelData


def test_stow_with_basic_auth(tmp_path: Path, cirs_ct: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    server = Orthanc(tmp_path / "orthanc", users={"alice": "s3cret"}).start()
    try:
        save_settings(Settings(nodes=[Node("secured", url=server.url, auth="basic:alice:PACS_SECRET")]))
        files = sorted(cirs_ct.iterdir())[:3]
        monkeypatch.setenv("PACS_SECRET", "wrong")
        assert main(["pacs", "send", "secured", *map(str, files)]) == 2
        assert "HTTP 401 (authentication failed" in capsys.readouterr().err
        monkeypatch.setenv("PACS_SECRET", "s3cret")
        assert main(["pacs", "send", "secured", *map(str, files)]) == 0
        assert server.get("/statistics")["CountInstances"] == 3
        found = web.find(Node("secured", url=server.url, auth="basic:alice:PACS_SECRET"), Query(level="patient"))
        assert [p["PatientID"] for p in found] == [pydicom.dcmread(files[0]).PatientID]
    finally:
        server.stop()


class _EmptyQido(http.server.BaseHTTPRequestHandler):
    """Answers every QIDO-RS search with no match."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, *args: object) -> None:
        pass


class _PlainMultipart(http.server.BaseHTTPRequestHandler):
    """A study as a DICOMweb server may send it: parts without Content-Length after a preamble, the answer
    without a length (ends when the connection closes), and QIDO-RS counting its objects."""

    files: list[Path] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if "?" in self.path:  # QIDO-RS: the count of the study's objects
            body = json.dumps([{"00201208": {"vr": "IS", "Value": [len(self.files)]}}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", 'multipart/related; type="application/dicom"; boundary=b0undary')
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"a preamble, which is no part")
        for path in self.files:
            self.wfile.write(b"\r\n--b0undary\r\nContent-Type: application/dicom\r\n\r\n" + path.read_bytes())
        self.wfile.write(b"\r\n--b0undary--\r\n")
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


def test_wado_parts_found_by_their_boundaries(cirs_ct: Path, workstation_home: Path) -> None:
    """Parts without Content-Length are split at their boundaries: each object lands whole (the bytes of its
    source file), the study complete."""
    files = sorted(cirs_ct.iterdir())[:12]
    _PlainMultipart.files = files
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainMultipart)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        node = Node("plain", url=f"http://127.0.0.1:{server.server_address[1]}/dicom-web")
        assert web.retrieve(None, None, node, CT_STUDY) == len(files)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    with Library() as library:
        rows = library.instances(CT_STUDY)
        assert library.tree()[0].studies[0].state == "complete"
    expected = source_uids(cirs_ct)
    assert len(rows) == len(files)
    for _, sop, path in rows:
        assert Path(path).read_bytes() == expected[sop].read_bytes()


def test_tls_is_verified_by_default(tmp_path: Path) -> None:
    """An HTTPS service with a self-signed certificate (Debian's Orthanc 1.10 crashes serving TLS here, so
    Python's own server): refused unless the node turns verification off."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                           "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EmptyQido)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}/dicom-web"
    try:
        assert Node("x", url=url).verify_tls
        with pytest.raises(NetworkError, match="TLS certificate not trusted"):
            web.find(Node("x", url=url), Query())
        assert web.find(Node("x", url=url, verify_tls=False), Query()) == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
