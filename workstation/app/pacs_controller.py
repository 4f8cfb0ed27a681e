"""PACS in the main window: the Query/Retrieve dialog, Send series to..., and the listener in the status bar.

A surgical hook: ``install_pacs(window)`` adds a PACS menu and a status-bar
label; everything else stays here. Querying, retrieving, sending and the
listener are ``workstation.net``'s, run as jobs; nodes come from the same
settings file the CLI reads.

The network stack (pynetdicom, dicomweb-client and requests) is imported
where a PACS action first needs it, not with the main window: most sessions
never touch it, and it is a tenth of the CPU time of the first window's imports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QMenu

from widgets.pacs_dialog import PacsDialog
from widgets.pacs_nodes_dialog import PacsNodesDialog
from workstation.errors import Cancelled, NetworkError
from workstation.jobs import Job, scaled_progress
from workstation.net.nodes import Node, Settings, load_settings, node_from_fields, parse_node, save_settings

if TYPE_CHECKING:
    from workstation.net.listener import Listener

log = logging.getLogger(__name__)

class PacsController(QObject):
    """Owns the dialog, the running jobs of this feature, and the listener."""

    listenerChanged = Signal(str)  # the listener's state line; emitted from network threads, queued to the GUI
    retrieveFinished = Signal(int)  # objects received (tests wait on it)
    searchFinished = Signal(list)
    sendFinished = Signal(int)
    failed = Signal(str)  # one line
    echoFinished = Signal(str)  # the nodes editor's echo: its one line, success or failure
    nodesSaved = Signal()
    seriesArrived = Signal(str, str)  # study UID, series UID: its first objects are in the library (network threads)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: PacsDialog | None = None
        self.nodes_dialog: PacsNodesDialog | None = None
        self.listener: Listener | None = None
        self._handle = None
        self.status = QLabel("listener stopped")
        window.statusBar().addPermanentWidget(self.status)
        self.listenerChanged.connect(self.status.setText)
        self.seriesArrived.connect(lambda study, series: self.window.list_library())  # shown as it arrives
        menu = window.menuBar().addMenu("&PACS")
        menu.addAction("&Query / Retrieve...", self.show_dialog)
        menu.addAction("PACS &nodes...", self.edit_nodes)
        self.send_menu = QMenu("&Send series to", menu)
        self.send_menu.aboutToShow.connect(self._fill_send_menu)
        menu.addMenu(self.send_menu)
        self.send_files_menu = QMenu("Send DICOM &files to", menu)  # exports: SR, SEG, registered series
        self.send_files_menu.aboutToShow.connect(self._fill_send_files_menu)
        menu.addMenu(self.send_files_menu)
        self.listen_action = menu.addAction("&Listen for incoming studies")
        self.listen_action.setCheckable(True)
        self.listen_action.toggled.connect(self.set_listening)
        window.installEventFilter(self)

    # -- settings and nodes ------------------------------------------------------------
    @staticmethod
    def settings() -> Settings:
        return load_settings()

    def _node(self, text: str, context: str) -> tuple[Settings, Node] | None:
        """The settings and the node ``text`` names, or None after reporting why not."""
        try:
            settings = self.settings()
            return settings, parse_node(text, settings)
        except NetworkError as exc:
            self._report(exc, context)
            return None

    def _report(self, error: BaseException, context: str) -> None:
        if not isinstance(error, Cancelled):
            self.window.messages.add_error(error, context)
        line = str(error) if not isinstance(error, Cancelled) else "cancelled"
        if self.dialog is not None:
            self.dialog.set_busy(False)
            self.dialog.set_progress(0.0, line)
        self.failed.emit(line)

    # -- nodes editor ------------------------------------------------------------------
    def edit_nodes(self) -> PacsNodesDialog | None:
        """Show the nodes editor filled from the settings file."""
        try:
            settings = self.settings()
        except NetworkError as exc:
            self._report(exc, "PACS settings")
            return None
        if self.nodes_dialog is None:
            self.nodes_dialog = PacsNodesDialog(self.window)
            self.nodes_dialog.saveRequested.connect(self.save_nodes)
            self.nodes_dialog.echoRequested.connect(self.echo_node)
        self.nodes_dialog.set_settings(settings.ae_title, settings.listen_port, settings.allowed_callers,
                                       [vars(node) for node in settings.nodes])
        self.nodes_dialog.set_status("")
        self.nodes_dialog.show()
        self.nodes_dialog.raise_()
        return self.nodes_dialog

    def save_nodes(self, edited: dict) -> None:
        """Check and save the editor's settings (one line in the editor if something is wrong)."""
        try:
            settings = self.settings()
            nodes = [node_from_fields(row) for row in edited["nodes"]]
            names = [node.name for node in nodes]
            if len(set(names)) < len(names):
                raise NetworkError("two nodes have the same name")
            settings.ae_title, settings.listen_port = edited["ae_title"], int(edited["listen_port"])
            settings.allowed_callers, settings.nodes = list(edited["allowed_callers"]), nodes
            save_settings(settings)
        except NetworkError as exc:
            self.nodes_dialog.set_status(str(exc))
            return
        self.nodes_dialog.set_status(f"saved {len(nodes)} nodes (a running listener uses them once restarted)")
        if self.dialog is not None:
            self.dialog.set_nodes(names)
        self.nodesSaved.emit()

    def echo_node(self, fields: dict) -> None:
        """C-ECHO (or a DICOMweb search that matches nothing) to the node as edited, saved or not."""
        try:
            node, ae_title = node_from_fields(fields), self.nodes_dialog.ae_title.text().strip()
        except NetworkError as exc:
            self._echoed(str(exc))
            return

        from workstation.net import dimse, web

        def run(progress, cancel):  # noqa: ANN001, ANN202 - the job contract
            return web.echo(node) if node.is_web else dimse.echo(node, ae_title)

        self.window.runner.submit(Job(run), "pacs-echo",
                                  on_result=lambda s: self._echoed(f"{node.name}: answered in {s * 1000:.0f} ms"),
                                  on_error=lambda error: self._echoed(f"{node.name}: {error}"))

    def _echoed(self, line: str) -> None:
        if self.nodes_dialog is not None:
            self.nodes_dialog.set_status(line)
        self.echoFinished.emit(line)

    # -- query / retrieve --------------------------------------------------------------
    def show_dialog(self) -> PacsDialog:
        if self.dialog is None:
            self.dialog = PacsDialog(self.window)
            self.dialog.searchRequested.connect(self.search)
            self.dialog.retrieveRequested.connect(self.retrieve)
            self.dialog.cancelRequested.connect(self.cancel)
        try:
            self.dialog.set_nodes([n.name for n in self.settings().nodes])
        except NetworkError as exc:
            self._report(exc, "PACS settings")
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def search(self, node_text: str, level: str, filters: dict) -> None:
        found_node = self._node(node_text, "PACS search")
        if found_node is None:
            return
        settings, node = found_node
        from workstation.net import dimse, web

        query = dimse.Query(level=level, **filters)

        def run(progress, cancel):  # noqa: ANN001, ANN202 - the job contract
            return web.find(node, query) if node.is_web else dimse.find(node, query, settings.ae_title,
                                                                         cancel=cancel)

        def found(matches: list[dict]) -> None:
            if self.dialog is not None:
                self.dialog.set_busy(False)
                self.dialog.set_results(level, matches)
            self.searchFinished.emit(matches)

        self._start(Job(run), "pacs-find", found, "PACS search")

    def retrieve(self, node_text: str, wanted: list, method: str) -> None:
        found_node = self._node(node_text, "PACS retrieve")
        if found_node is None:
            return
        settings, node = found_node
        library, listener = self.window.library, self.listener  # a C-MOVE receives through a running listener
        from workstation.net import dimse, web

        def run(progress, cancel):  # noqa: ANN001, ANN202 - the job contract
            received = 0
            for n, (study_uid, series_uid) in enumerate(wanted):
                step = scaled_progress(progress, n / len(wanted), (n + 1) / len(wanted))
                if node.is_web:
                    received += web.retrieve(step, cancel, node, study_uid, series_uid, library=library,
                                             on_series=self.seriesArrived.emit)
                else:
                    received += dimse.retrieve(step, cancel, node, study_uid, series_uid, method,
                                               settings=settings, library=library, listener=listener,
                                               on_series=self.seriesArrived.emit)
            return received

        def done(received: int) -> None:
            if self.dialog is not None:
                self.dialog.set_busy(False)
                self.dialog.set_progress(1.0, f"{received} objects received")
            self.window.messages.add(f"retrieved {received} objects from {node}", logging.INFO)
            self.window.list_library()
            self.retrieveFinished.emit(received)

        self._start(Job(run), "pacs-retrieve", done, "PACS retrieve")

    def _start(self, job: Job, name: str, on_result, context: str) -> None:  # noqa: ANN001
        if self.dialog is not None:
            self.dialog.set_busy(True)
        self._handle = self.window.runner.submit(job, name, on_result=on_result,
                                                 on_error=lambda error: self._report(error, context),
                                                 on_progress=self._progress)

    def _progress(self, fraction: float, message: str) -> None:
        if self.dialog is not None:
            self.dialog.set_progress(fraction, message)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    # -- send --------------------------------------------------------------------------
    def _fill_send_menu(self) -> None:
        self._fill_nodes_menu(self.send_menu, self.send_current)

    def _fill_send_files_menu(self) -> None:
        self._fill_nodes_menu(self.send_files_menu, self._ask_send_files)

    def _fill_nodes_menu(self, menu: QMenu, chosen) -> None:  # noqa: ANN001 - called with the node's name
        menu.clear()
        try:
            nodes = self.settings().nodes
        except NetworkError as exc:
            self._report(exc, "PACS settings")
            return
        for node in nodes:
            menu.addAction(node.name, lambda name=node.name: chosen(name))
        if not nodes:
            menu.addAction("(no nodes in the PACS settings)").setEnabled(False)

    def _ask_send_files(self, node_text: str) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, f"Send DICOM files to {node_text}", "",
                                                "DICOM (*.dcm *.DCM);;All files (*)")
        if files:
            self.send_files(node_text, [Path(f) for f in files])

    def send_current(self, node_text: str) -> None:
        """Send the series selected in the library browser (its files as they are) to a node."""
        key = self.window.browser.current_series()
        if not key or key not in self.window.catalog:
            self._report(NetworkError("select a series in the library to send"), "Send")
            return
        self.send_files(node_text, [Path(f) for f in self.window.catalog[key].files])

    def send_files(self, node_text: str, paths: list[Path]) -> None:
        """Send DICOM files as they are (a series, or what an export wrote: SR, SEG, a registered series)."""
        found_node = self._node(node_text, "Send")
        if found_node is None:
            return
        settings, node = found_node
        from workstation.net import dimse, web

        job = Job(web.send, node, paths) if node.is_web else Job(dimse.send, node, paths, settings.ae_title)

        def sent(count: int) -> None:
            self.window.messages.add(f"sent {count} files to {node}", logging.INFO)
            self.sendFinished.emit(count)

        self.window.run_job(job, "pacs-send", f"sending to {node}", sent,
                            on_failure=lambda error: self.failed.emit(str(error)))

    # -- listener ----------------------------------------------------------------------
    def set_listening(self, on: bool) -> None:
        if not on:
            self.stop_listener()
            return
        if self.listener is not None:
            return
        from workstation.net.listener import Listener

        try:
            settings = self.settings()
            allowed = [*settings.allowed_callers, *(n.ae_title for n in settings.nodes if n.ae_title)]
            self.listener = Listener(self.window.library, settings.ae_title, settings.listen_port,
                                     settings.listen_host, allowed, on_change=self.listenerChanged.emit,
                                     on_series=self.seriesArrived.emit).start()
        except NetworkError as exc:
            self.listener = None
            self.listen_action.setChecked(False)
            self._report(exc, "Listener")

    def stop_listener(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.listenerChanged.emit("listener stopped")
        if self.listen_action.isChecked():
            self.listen_action.setChecked(False)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.stop_listener()  # no listener thread outlives the window
        return False


def install_pacs(window: Any) -> PacsController:
    """Add the PACS menu and the listener's status-bar label to the main window."""
    return PacsController(window)
