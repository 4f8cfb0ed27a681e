"""The segment statistics table: voxels, volume, intensity figures and surface area per segment.

A thin panel: the controller computes the rows (``segmentation.statistics``)
as a job and hands them here; the panel shows them and asks for a refresh
or a CSV file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from segmentation.statistics import SegmentStatistics

COLUMNS = {"label": "Segment", "voxels": "Voxels", "volume_ml": "Volume (mL)", "mean": "Mean", "sd": "SD",
           "minimum": "Min", "maximum": "Max", "median": "Median", "surface_mm2": "Surface (mm²)", "units": "Units"}


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


class SegmentStatisticsPanel(QWidget):
    """One row per segment; Compute and Export CSV."""

    computeRequested = Signal()
    exportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS.values()))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.compute_button = QPushButton("Compute")
        self.compute_button.clicked.connect(self.computeRequested.emit)
        self.export_button = QPushButton("Export CSV...")
        self.export_button.clicked.connect(self.exportRequested.emit)
        self.stale = QLabel("The segments changed since: compute again")
        self.stale.hide()
        row.addWidget(self.compute_button)
        row.addWidget(self.export_button)
        row.addWidget(self.stale)
        row.addStretch(1)
        layout.addLayout(row)
        self.rows: list[SegmentStatistics] = []

    def set_stale(self, stale: bool) -> None:
        """Say that the rows no longer describe the labels (they were edited after the figures were computed)."""
        self.stale.setVisible(stale and bool(self.rows))
        self.table.setEnabled(not stale)

    def set_rows(self, rows: list[SegmentStatistics]) -> None:
        self.rows = list(rows)
        self.set_stale(False)
        self.table.setRowCount(len(rows))
        for r, stats in enumerate(rows):
            for c, key in enumerate(COLUMNS):
                self.table.setItem(r, c, QTableWidgetItem(cell(getattr(stats, key))))
        self.table.resizeColumnsToContents()
