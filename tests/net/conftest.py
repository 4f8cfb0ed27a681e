"""A real Orthanc loaded once per session with the cirs057a CT and MR, and PACS settings pointing at it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from tests.net.orthanc import AET, Orthanc, free_port
from workstation.net.nodes import Node, Settings, save_settings

CT_STUDY = "1.2.840.113619.2.290.3.3233817346.783.1399004564.509"
CT_SERIES = "1.2.840.113619.2.290.3.3233817346.783.1399004564.515"
MR_SERIES = "1.3.12.2.1107.5.2.18.41548.30000014030519285935000000933"


@pytest.fixture(scope="session")
def move_port() -> int:
    """Our listener's port, known to Orthanc as the C-MOVE destination WORKSTATION."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory, cirs_ct: Path, cirs_mr: Path,
            move_port: int) -> Iterator[Orthanc]:
    server = Orthanc(tmp_path_factory.mktemp("orthanc"), {"workstation": ("WORKSTATION", move_port)})
    server.start()
    try:
        server.load(cirs_ct, cirs_mr)
        yield server
    finally:
        server.stop()


@pytest.fixture
def pacs_settings(workstation_home: Path, orthanc: Orthanc, move_port: int) -> Settings:
    """The settings file the CLI and GUI read: our AE title, listener port, and Orthanc as two nodes."""
    settings = Settings(listen_port=move_port, nodes=[
        Node("orthanc", ae_title=AET, host="127.0.0.1", port=orthanc.dicom_port),
        Node("orthanc-web", url=orthanc.url)])
    save_settings(settings)
    return settings


def source_uids(folder: Path) -> dict[str, Path]:
    """SOP Instance UID -> file of a source folder, read by pydicom (the independent reference)."""
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in sorted(folder.iterdir())}


class StateWatch:
    """Collects a listener's state lines and lets a test wait for one (an event, no sleeping)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, state: str) -> None:
        with self._cond:
            self.lines.append(state)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 60.0) -> str:  # noqa: ANN001
        with self._cond:
            if not self._cond.wait_for(lambda: any(predicate(s) for s in self.lines), timeout):
                raise AssertionError(f"listener never reached the state; saw {self.lines}")
            return next(s for s in self.lines if predicate(s))

    def clear(self) -> None:
        with self._cond:
            self.lines.clear()
