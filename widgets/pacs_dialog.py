"""The Query/Retrieve dialog: search fields, a results table, retrieve with progress and cancel.

Only a view: it emits what the user asked for (search, retrieve, cancel) and
shows what the controller hands back (nodes, matches, progress). Querying
and retrieving live in ``workstation.net``; the wiring in
``workstation.app.pacs_controller``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = {
    "study": ("PatientName", "PatientID", "StudyDate", "StudyDescription", "ModalitiesInStudy", "AccessionNumber",
              "NumberOfStudyRelatedInstances"),
    "series": ("SeriesNumber", "Modality", "SeriesDescription", "NumberOfSeriesRelatedInstances",
               "SeriesInstanceUID"),
    "patient": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"),
}
UID_ROLE = Qt.ItemDataRole.UserRole


class PacsDialog(QDialog):
    """``searchRequested(node, level, filters)``, ``retrieveRequested(node, [(study, series)], method)``."""

    searchRequested = Signal(str, str, dict)
    retrieveRequested = Signal(str, list, str)
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Query / Retrieve")
        self.resize(900, 560)
        self.level = "study"
        self.node = QComboBox(editable=True)
        self.node.setToolTip("a node from the settings, AET@HOST:PORT or an http(s) DICOMweb URL")
        self.level_box = QComboBox()
        self.level_box.addItems(["study", "series", "patient"])
        self.fields = {name: QLineEdit() for name in ("patient_name", "patient_id", "birth_date", "study_date",
                                                        "modality", "accession", "description", "study_uid")}
        self.fields["patient_name"].setPlaceholderText("wildcards * ?")
        self.fields["study_date"].setPlaceholderText("YYYYMMDD or YYYYMMDD-YYYYMMDD")
        self.search_button = QPushButton("Search")
        self.results = QTreeWidget()
        self.results.setRootIsDecorated(False)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.method = QComboBox()
        self.method.addItems(["get", "move"])
        self.retrieve_button = QPushButton("Retrieve")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel()

        form = QFormLayout()
        form.addRow("Node", self.node)
        form.addRow("Level", self.level_box)
        for name, edit in self.fields.items():
            form.addRow(name.replace("_", " ").capitalize().replace("uid", "UID"), edit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Method"))
        buttons.addWidget(self.method)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)

        self.search_button.clicked.connect(self._search)
        self.retrieve_button.clicked.connect(self._retrieve)
        self.cancel_button.clicked.connect(self.cancelRequested)
        for edit in self.fields.values():
            edit.returnPressed.connect(self._search)
        self.set_busy(False)

    def set_nodes(self, names: list[str]) -> None:
        self.node.clear()
        self.node.addItems(names)

    def set_results(self, level: str, matches: list[dict]) -> None:
        self.level = level
        columns = COLUMNS[level]
        self.results.clear()
        self.results.setColumnCount(len(columns))
        self.results.setHeaderLabels(columns)
        for match in matches:
            item = QTreeWidgetItem([match.get(c, "") for c in columns])
            item.setData(0, UID_ROLE, (match.get("StudyInstanceUID", ""), match.get("SeriesInstanceUID", "")))
            self.results.addTopLevelItem(item)
        self.status.setText(f"{len(matches)} matches")

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.status.setText(message)

    def set_busy(self, busy: bool) -> None:
        self.search_button.setEnabled(not busy)
        self.retrieve_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _search(self) -> None:
        filters = {name: edit.text().strip() for name, edit in self.fields.items() if edit.text().strip()}
        self.searchRequested.emit(self.node.currentText().strip(), self.level_box.currentText(), filters)

    def _retrieve(self) -> None:
        chosen = [tuple(item.data(0, UID_ROLE)) for item in self.results.selectedItems()]
        chosen = [uids for uids in chosen if uids[0]]
        if chosen:
            self.retrieveRequested.emit(self.node.currentText().strip(), chosen, self.method.currentText())
        else:
            self.status.setText("select studies or series to retrieve (patients: search their studies)")
