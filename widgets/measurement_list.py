"""The list of the current series' measurements: values with units, select to go there, rename, delete, export.

Why a list beside the views: a measurement drawn on slice 80 is invisible on
slice 20; the list shows them all with their numbers, takes the reader to
one (the crosshair moves onto it, so its slice is shown), and is where labels
are typed and exports start. The list reads and changes the ``Viewer``'s
measurements (slot 0) only; the window saves them on ``measurementsChanged``
and owns the export flows, which the buttons request by signal.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.viewer import Viewer
from workstation.measurements import Measurement

UID_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Label", "Kind", "Values")


def format_values(values: dict[str, tuple[float, str]]) -> str:
    """``{"length": (42.0, "mm")}`` -> ``"length 42.0 mm"``; the units are the measurement's own (mm, HU, ...)."""
    return ", ".join(f"{name} {value:.1f}{' ' + unit if unit else ''}" for name, (value, unit) in values.items())


class MeasurementList(QWidget):
    """Measurements of the main series, one row each; see the module docstring."""

    exportCsvRequested = Signal()
    exportSrRequested = Signal()

    def __init__(self, viewer: Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 110)
        self.tree.setColumnWidth(1, 70)
        self.delete_button = QPushButton("Delete")
        self.csv_button = QPushButton("Export CSV...")
        self.sr_button = QPushButton("Export SR...")
        buttons = QHBoxLayout()
        for button in (self.delete_button, self.csv_button, self.sr_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)

        self.tree.currentItemChanged.connect(self._current_changed)
        self.tree.itemChanged.connect(self._renamed)
        self.delete_button.clicked.connect(self.delete_selected)
        self.csv_button.clicked.connect(self.exportCsvRequested.emit)
        self.sr_button.clicked.connect(self.exportSrRequested.emit)
        viewer.measurementsChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows from the viewer (a measurement drawn, edited, deleted or restored)."""
        current = self.selected_uid()
        with QSignalBlocker(self.tree):
            self.tree.clear()
            for m in self.viewer.model.measurements():
                item = QTreeWidgetItem([m.label, m.kind, format_values(self.viewer.model.measurement_values(m))])
                item.setData(0, UID_ROLE, m.uid)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                item.setToolTip(0, "Double-click to type a label")
                self.tree.addTopLevelItem(item)
                if m.uid == current:
                    self.tree.setCurrentItem(item)
        self._update_buttons()

    def rows(self) -> list[tuple[str, str, str]]:
        """(label, kind, values) of every row, as shown."""
        items = [self.tree.topLevelItem(n) for n in range(self.tree.topLevelItemCount())]
        return [(i.text(0), i.text(1), i.text(2)) for i in items]

    def selected_uid(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, UID_ROLE) if item is not None else None

    def select(self, uid: str) -> None:
        """Select a row as a click would: the viewer selects the measurement and moves the crosshair onto it."""
        for n in range(self.tree.topLevelItemCount()):
            if self.tree.topLevelItem(n).data(0, UID_ROLE) == uid:
                self.tree.setCurrentItem(self.tree.topLevelItem(n))

    def rename(self, uid: str, label: str) -> None:
        """Give a measurement a label (kept with it in the library and in the exports)."""
        m = self._measurement(uid)
        if m is not None and m.label != label:
            self.viewer.model.add_measurement(dataclasses.replace(m, label=label))

    def delete_selected(self) -> None:
        uid = self.selected_uid()
        if uid is not None:
            self.viewer.model.delete_measurement(uid)

    def _measurement(self, uid: str) -> Measurement | None:
        return next((m for m in self.viewer.model.measurements() if m.uid == uid), None)

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self._update_buttons()
        m = self._measurement(item.data(0, UID_ROLE)) if item is not None else None
        if m is None:
            return
        self.viewer.model.select_measurement(m.uid)
        # the points' mean lies on the measurement's slice: that view shows it, the other two cross it there
        self.viewer.model.set_position(np.mean(m.points, axis=0))

    def _renamed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.rename(item.data(0, UID_ROLE), item.text(0).strip())

    def _update_buttons(self) -> None:
        self.delete_button.setEnabled(self.selected_uid() is not None)
        has_any = self.tree.topLevelItemCount() > 0
        self.csv_button.setEnabled(has_any)
        self.sr_button.setEnabled(has_any)
