"""The shortcut list: one table that the help panel shows and the viewer's key handling follows."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

SHORTCUTS: list[tuple[str, str]] = [
    ("Wheel, Up/Down, Left/Right", "Previous / next slice"),
    ("Page Up / Page Down", "Ten slices back / forward"),
    ("Left click", "Move the crosshair here (all views follow) and probe the pixel"),
    ("Shift + left drag", "Move the crosshair continuously"),
    ("Left drag", "Window (left-right) and level (up-down), when no tool is active"),
    ("Ctrl + left drag", "Rotate the crosshair axes (oblique MPR)"),
    ("Right drag / Ctrl + wheel", "Zoom"),
    ("Middle drag", "Pan"),
    ("Double click", "Maximise this view / back to the layout"),
    ("R", "Reset crosshair, oblique axes, zoom and pan"),
    ("I", "Invert the grey scale"),
    ("C", "Start / stop cine in the active view"),
    ("1 ... 9", "Window presets in the order of the preset menu"),
    ("L, A, E, B", "Tools: ruler (L), angle (A), ellipse (E), rectangle (B); Esc ends the tool"),
    ("Drag a handle", "Edit a measurement; Delete removes the selected one"),
    ("3D view: left / middle / right drag", "Rotate / pan / zoom"),
    ("H or F1", "This help"),
]


class HelpPanel(QWidget):
    """A small window listing every mouse and key shortcut."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool)
        self.setWindowTitle("Viewer shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2, self)
        table.setHorizontalHeaderLabels(["Keys / mouse", "Action"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(action))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        self.table = table
        self.resize(620, 480)
