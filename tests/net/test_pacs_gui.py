"""The PACS parts of the main window against the real Orthanc: query, retrieve, send, listener state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.app.conftest import window  # noqa: F401 - the real main window fixture
from tests.net.conftest import CT_SERIES, CT_STUDY
from tests.net.orthanc import Orthanc, require_tool
from workstation.net.nodes import Node, Settings, save_settings

pytestmark = pytest.mark.gui


def test_query_retrieve_dialog_fills_the_library(qtbot, window, pacs_settings: Settings) -> None:  # noqa: F811
    dialog = window.pacs.show_dialog()
    dialog.node.setCurrentText("orthanc")
    dialog.level_box.setCurrentText("series")
    dialog.fields["modality"].setText("CT")
    with qtbot.waitSignal(window.pacs.searchFinished, timeout=60_000) as found:
        dialog.search_button.click()
    assert [m["SeriesInstanceUID"] for m in found.args[0]] == [CT_SERIES]
    assert dialog.results.topLevelItemCount() == 1
    dialog.results.topLevelItem(0).setSelected(True)
    events: list[tuple] = []
    window.pacs.seriesArrived.connect(lambda study, series: events.append(("arrived", study, series)))
    window.pacs.retrieveFinished.connect(lambda received: events.append(("finished", received)))
    with qtbot.waitSignal(window.libraryListed, timeout=180_000):
        with qtbot.waitSignal(window.pacs.retrieveFinished, timeout=180_000):
            dialog.retrieve_button.click()
    assert events == [("arrived", CT_STUDY, CT_SERIES), ("finished", 283)]  # shown before the retrieve ends
    assert CT_SERIES in window.browser.series_uids()
    assert dialog.status.text() == "283 objects received"


def test_send_series_and_listener_state(qtbot, window, pacs_settings: Settings, tmp_path: Path,  # noqa: F811
                                        cirs_ct: Path, seg_samples: Path) -> None:
    empty = Orthanc(tmp_path / "orthanc").start()
    try:
        save_settings(Settings(listen_port=pacs_settings.listen_port, allowed_callers=["STORESCU"],
                               nodes=[*pacs_settings.nodes, Node("empty", ae_title="ORTHANC", host="127.0.0.1",
                                                                 port=empty.dicom_port),
                                      Node("empty-web", url=empty.url)]))
        with qtbot.waitSignal(window.pacs.listenerChanged, timeout=10_000,
                              check_params_cb=lambda s: s.startswith("listening")):
            window.pacs.listen_action.setChecked(True)
        assert window.pacs.status.text() == f"listening on WORKSTATION@127.0.0.1:{pacs_settings.listen_port}"

        files = [cirs_ct / f"{n}.dcm" for n in range(1, 6)]  # adjacent slices: a series the library can show
        with qtbot.waitSignal(window.libraryListed, timeout=60_000):  # the listing the arrival starts
            with qtbot.waitSignal(window.pacs.seriesArrived, timeout=60_000) as arrived:
                done = subprocess.run([require_tool("storescu"), "-aet", "STORESCU", "-aec", "WORKSTATION",
                                       "127.0.0.1", str(pacs_settings.listen_port), *map(str, files)],
                                      capture_output=True, text=True, env={**os.environ, "TCP_NODELAY": "1"},
                                      timeout=60)
        assert done.returncode == 0, done.stderr
        assert arrived.args == [CT_STUDY, CT_SERIES]
        assert CT_SERIES in window.browser.series_uids()

        window.browser.select_series(CT_SERIES)
        with qtbot.waitSignal(window.pacs.sendFinished, timeout=60_000) as sent:
            window.pacs.send_current("empty")
        assert sent.args == [5]
        assert empty.get("/statistics")["CountInstances"] == 5

        seg = seg_samples / "dcmqi" / "sparse-labelmap-noppv.dcm"  # an exported object, sent by STOW-RS
        with qtbot.waitSignal(window.pacs.sendFinished, timeout=60_000) as sent:
            window.pacs.send_files("empty-web", [seg])
        assert sent.args == [1]
        stored = [empty.get(f"/instances/{i}/simplified-tags") for i in empty.get("/instances")]
        assert str(pydicom.dcmread(seg, stop_before_pixels=True).SOPInstanceUID) in {
            t["SOPInstanceUID"] for t in stored if t["Modality"] == "SEG"}

        with qtbot.waitSignal(window.pacs.listenerChanged, timeout=10_000):
            window.pacs.listen_action.setChecked(False)
        assert window.pacs.status.text() == "listener stopped"
    finally:
        empty.stop()


def _fill(dialog, row: dict) -> int:  # noqa: ANN001 - the nodes editor
    from widgets.pacs_nodes_dialog import COLUMNS

    number = dialog.add_row({})
    for column, key in enumerate(COLUMNS):
        if key in row:
            dialog.table.item(number, column).setText(str(row[key]))
    return number


def test_nodes_editor_echoes_and_saves(qtbot, window, pacs_settings: Settings, orthanc: Orthanc) -> None:  # noqa: F811
    """Add, echo (DIMSE, DICOMweb, a wrong port), remove and save nodes; the settings file, read as plain JSON,
    holds what was saved; a row without a port is refused and saves nothing."""
    import json

    from tests.net.orthanc import free_port
    from workstation.net.nodes import settings_path

    dialog = window.pacs.edit_nodes()
    assert [dialog.row(n)["name"] for n in range(dialog.table.rowCount())] == ["orthanc", "orthanc-web"]

    for row, expected in ((1, "orthanc-web: answered in"), (0, "orthanc: answered in")):
        dialog.table.selectRow(row)
        with qtbot.waitSignal(window.pacs.echoFinished, timeout=60_000) as echoed:
            dialog.echo_button.click()
        assert echoed.args[0].startswith(expected), echoed.args[0]

    _fill(dialog, {"name": "nowhere", "ae_title": "ORTHANC", "host": "127.0.0.1", "port": free_port()})
    with qtbot.waitSignal(window.pacs.echoFinished, timeout=60_000) as echoed:
        dialog.echo_button.click()
    assert echoed.args[0].startswith("nowhere:") and "connection refused" in echoed.args[0]
    assert dialog.status.text() == echoed.args[0]

    before = settings_path().read_text()
    broken = _fill(dialog, {"name": "broken", "ae_title": "X", "host": "127.0.0.1"})
    dialog.save_button.click()
    assert "broken" in dialog.status.text() and "port" in dialog.status.text()
    assert settings_path().read_text() == before
    dialog.table.selectRow(broken)
    dialog.remove_button.click()

    dialog.table.selectRow(1)  # orthanc-web
    dialog.remove_button.click()
    with qtbot.waitSignal(window.pacs.nodesSaved, timeout=10_000):
        dialog.save_button.click()
    saved = json.loads(settings_path().read_text())
    assert [(n["name"], n["ae_title"], n["port"]) for n in saved["nodes"]] == [
        ("orthanc", "ORTHANC", orthanc.dicom_port), ("nowhere", "ORTHANC", int(dialog.row(1)["port"]))]
    assert saved["listen_port"] == pacs_settings.listen_port


def test_move_while_the_window_listens(qtbot, window, pacs_settings: Settings, cirs_mr: Path) -> None:  # noqa: F811
    """With the window's listener on the port Orthanc knows for us, a C-MOVE retrieve receives through it."""
    from tests.net.conftest import MR_SERIES

    save_settings(Settings(listen_port=pacs_settings.listen_port, allowed_callers=["STORESCU"],
                           nodes=pacs_settings.nodes))
    with qtbot.waitSignal(window.pacs.listenerChanged, timeout=10_000,
                          check_params_cb=lambda s: s.startswith("listening")):
        window.pacs.listen_action.setChecked(True)
    study = str(pydicom.dcmread(next(cirs_mr.iterdir()), stop_before_pixels=True).StudyInstanceUID)
    with qtbot.waitSignal(window.pacs.retrieveFinished, timeout=180_000) as retrieved:
        window.pacs.retrieve("orthanc", [(study, MR_SERIES)], "move")
    assert retrieved.args == [352]
    assert window.pacs.listener is not None and window.pacs.listener.state.startswith("listening on")
    with qtbot.waitSignal(window.pacs.listenerChanged, timeout=10_000):
        window.pacs.listen_action.setChecked(False)
