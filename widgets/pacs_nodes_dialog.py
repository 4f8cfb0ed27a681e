"""The PACS nodes editor: our AE title and listener, and a table of nodes to add, edit, remove and echo.

Only a view, like the Query/Retrieve dialog: it shows plain rows (one dict
a node, the fields of ``workstation.net.nodes.Node``) and emits what the user
asked for; the controller checks, echoes and saves them in the settings file
the CLI reads too.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = {"name": "Name", "ae_title": "AE title", "host": "Host", "port": "Port", "url": "DICOMweb URL",
           "auth": "Authentication", "verify_tls": "Verify TLS"}
"""Node field -> column header. A DIMSE node fills AE title, host and port; a DICOMweb node the URL."""


class PacsNodesDialog(QDialog):
    """``saveRequested({"ae_title", "listen_port", "allowed_callers", "nodes": [row, ...]})``,
    ``echoRequested(row)``; each row maps the keys of ``COLUMNS`` to text (``verify_tls``: a bool)."""

    saveRequested = Signal(dict)
    echoRequested = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS nodes")
        self.resize(860, 420)
        self.ae_title = QLineEdit()
        self.listen_port = QSpinBox()
        self.listen_port.setRange(1, 65535)
        self.allowed = QLineEdit()
        self.allowed.setPlaceholderText("calling AE titles besides the nodes', separated by spaces")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS.values()))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeaderItem(list(COLUMNS).index("auth")).setToolTip(
            "empty, basic:USER:ENVVAR or bearer:ENVVAR (the secret stays in that environment variable)")
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.echo_button = QPushButton("Echo")
        self.save_button = QPushButton("Save")
        self.close_button = QPushButton("Close")
        self.status = QLabel()

        form = QFormLayout()
        form.addRow("Our AE title", self.ae_title)
        form.addRow("Listener port", self.listen_port)
        form.addRow("Also allowed to send", self.allowed)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.echo_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.add_button.clicked.connect(lambda: self.add_row({}))
        self.remove_button.clicked.connect(self._remove)
        self.echo_button.clicked.connect(self._echo)
        self.save_button.clicked.connect(self._save)
        self.close_button.clicked.connect(self.close)

    def set_settings(self, ae_title: str, listen_port: int, allowed: list[str], rows: list[dict]) -> None:
        self.ae_title.setText(ae_title)
        self.listen_port.setValue(listen_port)
        self.allowed.setText(" ".join(allowed))
        self.table.setRowCount(0)
        for row in rows:
            self.add_row(row)

    def add_row(self, row: dict) -> int:
        """Append a node (empty fields for a new one); returns its row number, selected."""
        number = self.table.rowCount()
        self.table.insertRow(number)
        for column, key in enumerate(COLUMNS):
            if key == "verify_tls":
                item = QTableWidgetItem()
                item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled |
                              Qt.ItemFlag.ItemIsSelectable)
                item.setCheckState(Qt.CheckState.Checked if row.get(key, True) else Qt.CheckState.Unchecked)
            else:
                value = row.get(key, "")
                item = QTableWidgetItem(str(value) if value not in (None, 0) else "")
            self.table.setItem(number, column, item)
        self.table.selectRow(number)
        return number

    def row(self, number: int) -> dict:
        values: dict = {}
        for column, key in enumerate(COLUMNS):
            item = self.table.item(number, column)
            if key == "verify_tls":
                values[key] = item.checkState() == Qt.CheckState.Checked
            else:
                values[key] = item.text().strip() if item is not None else ""
        return values

    def set_status(self, line: str) -> None:
        self.status.setText(line)

    def _selected(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.set_status("select a node first")
            return None
        return rows[0].row()

    def _remove(self) -> None:
        number = self._selected()
        if number is not None:
            self.table.removeRow(number)

    def _echo(self) -> None:
        number = self._selected()
        if number is not None:
            self.set_status("echoing...")
            self.echoRequested.emit(self.row(number))

    def _save(self) -> None:
        self.saveRequested.emit({"ae_title": self.ae_title.text().strip(), "listen_port": self.listen_port.value(),
                                 "allowed_callers": self.allowed.text().split(),
                                 "nodes": [self.row(n) for n in range(self.table.rowCount())]})
