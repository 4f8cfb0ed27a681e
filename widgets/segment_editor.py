"""The segment editor panel: the segments of the shown labels, the editing tools and their settings.

A thin panel in the manner of 3D Slicer's Segment Editor: it shows what the
controller (``workstation.app.segmentation_controller``) tells it and
reports what the user asked for through signals; it holds no label map.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.labels import Segment

TOOLS = {"navigate": None, "paint": "paint", "erase": "erase", "grow": "grow"}
"""Tool buttons: their text and the labels layer's tool they switch on."""
ACTIONS = ("keep largest", "remove small", "split", "smooth", "fill holes", "fill between slices",
           "grow from seeds", "threshold")
"""Operations on the selected segment (or all, for grow from seeds) that run as jobs."""


class SegmentEditor(QWidget):
    """Segments table, tools, threshold range, 3D operations, undo and redo, saving."""

    newLabelsRequested = Signal()
    addRequested = Signal()
    removeRequested = Signal(int)              # segment number
    selected = Signal(int)                     # segment number
    renamed = Signal(int, str)
    recoloured = Signal(int, object)           # number, (r, g, b)
    visibilityChanged = Signal(int, bool)
    opacityChanged = Signal(int, float)
    toolChanged = Signal(object)               # None, 'paint', 'erase', 'grow'
    brushChanged = Signal(float, bool)         # radius mm, sphere (3D)
    actionRequested = Signal(str)              # one of ACTIONS
    undoRequested = Signal()
    redoRequested = Signal()
    saveSegRequested = Signal()
    saveLabelMapRequested = Signal()
    surfacesRequested = Signal()
    previewChanged = Signal()                  # the threshold range or its preview switch changed
    openObjectRequested = Signal(str)          # a SEG or RTSTRUCT path ("" asks for a file)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.new_button = QPushButton("New labels on the shown image")
        self.new_button.clicked.connect(self.newLabelsRequested.emit)
        layout.addWidget(self.new_button)
        row = QHBoxLayout()
        self.objects = QComboBox()
        self.objects.setToolTip("Segmentations (SEG, RTSTRUCT) of the shown series in the library")
        self.open_object_button = QPushButton("Open")
        self.open_object_button.clicked.connect(
            lambda: self.objects.currentData() and self.openObjectRequested.emit(self.objects.currentData()))
        self.open_file_button = QPushButton("SEG/RTSTRUCT file...")
        self.open_file_button.clicked.connect(lambda: self.openObjectRequested.emit(""))
        for w in (self.objects, self.open_object_button, self.open_file_button):
            row.addWidget(w)
        layout.addLayout(row)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Show", "Colour", "Segment"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemChanged.connect(self._item_changed)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.addRequested.emit)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(lambda: self.current is not None and self.removeRequested.emit(self.current))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("Opacity of the selected segment")
        self.opacity.valueChanged.connect(
            lambda v: self.current is not None and self.opacityChanged.emit(self.current, v / 100))
        for w in (self.add_button, self.remove_button, self.opacity):
            row.addWidget(w)
        layout.addLayout(row)

        tools = QGroupBox("Tools")
        grid = QGridLayout(tools)
        self.tool_buttons: dict[str, QPushButton] = {}
        for n, name in enumerate(TOOLS):
            button = QPushButton(name.capitalize(), checkable=True, autoExclusive=True)
            button.clicked.connect(lambda _c=False, t=TOOLS[name]: self.toolChanged.emit(t))
            grid.addWidget(button, 0, n)
            self.tool_buttons[name] = button
        self.tool_buttons["navigate"].setChecked(True)
        form = QFormLayout()
        self.radius = QDoubleSpinBox(minimum=0.5, maximum=100.0, value=5.0, singleStep=0.5, suffix=" mm")
        self.sphere = QCheckBox("Sphere (3D brush)")
        self.radius.valueChanged.connect(self._brush)
        self.sphere.toggled.connect(self._brush)
        self.lower = QDoubleSpinBox(minimum=-100000, maximum=100000, value=-100.0, decimals=1)
        self.upper = QDoubleSpinBox(minimum=-100000, maximum=100000, value=300.0, decimals=1)
        form.addRow("Brush radius", self.radius)
        form.addRow("", self.sphere)
        self.preview = QCheckBox("Preview the threshold range")
        for w in (self.lower, self.upper):
            w.valueChanged.connect(lambda _value: self.previewChanged.emit())
        self.preview.toggled.connect(lambda _on: self.previewChanged.emit())
        form.addRow("Threshold from", self.lower)
        form.addRow("to", self.upper)
        form.addRow("", self.preview)
        grid.addLayout(form, 1, 0, 1, len(TOOLS))
        layout.addWidget(tools)

        operations = QGroupBox("Operations")
        grid = QGridLayout(operations)
        self.action_buttons: dict[str, QPushButton] = {}
        for n, name in enumerate(ACTIONS):
            button = QPushButton(name.capitalize())
            button.clicked.connect(lambda _c=False, a=name: self.actionRequested.emit(a))
            grid.addWidget(button, n // 2, n % 2)
            self.action_buttons[name] = button
        form = QFormLayout()
        self.min_voxels = QSpinBox(minimum=1, maximum=10**8, value=100, suffix=" voxels")
        self.smoothing = QComboBox()
        self.smoothing.addItems(["median", "opening", "closing"])
        self.smoothing_mm = QDoubleSpinBox(minimum=0.5, maximum=50.0, value=2.0, suffix=" mm")
        form.addRow("Small islands under", self.min_voxels)
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Smoothing radius", self.smoothing_mm)
        self.registration_mask = QCheckBox("The selected segment masks registration (fixed image)")
        form.addRow("", self.registration_mask)
        grid.addLayout(form, len(ACTIONS) // 2 + 1, 0, 1, 2)
        layout.addWidget(operations)

        row = QHBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undoRequested.emit)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.redoRequested.emit)
        self.save_seg_button = QPushButton("Save DICOM SEG...")
        self.save_seg_button.clicked.connect(self.saveSegRequested.emit)
        self.save_map_button = QPushButton("Save label map...")
        self.save_map_button.clicked.connect(self.saveLabelMapRequested.emit)
        self.surfaces_button = QPushButton("Show in 3D")
        self.surfaces_button.clicked.connect(self.surfacesRequested.emit)
        for w in (self.undo_button, self.redo_button, self.save_seg_button, self.save_map_button, self.surfaces_button):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addStretch(1)
        self._numbers: list[int] = []
        self._filling = False
        self.set_segments([], None)
        self.set_history(False, False)
        self.set_objects([])

    def set_objects(self, objects: list[tuple[str, str]]) -> None:
        """The segmentations of the shown series that the library holds: (text, path) each."""
        self.objects.clear()
        for text, path in objects:
            self.objects.addItem(text, path)
        self.objects.setEnabled(bool(objects))
        self.open_object_button.setEnabled(bool(objects))

    @property
    def current(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self._numbers[rows[0].row()] if rows else None

    def set_segments(self, segments: list[Segment] | None, current: int | None) -> None:
        """Show the labels' segments (None: no labels) with ``current`` selected."""
        self._filling = True
        try:
            segments = segments or []
            self._numbers = [s.number for s in segments]
            self.table.setRowCount(len(segments))
            for row, s in enumerate(segments):
                show = QTableWidgetItem()
                flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                show.setFlags(flags | Qt.ItemFlag.ItemIsUserCheckable)
                show.setCheckState(Qt.CheckState.Checked if s.visible else Qt.CheckState.Unchecked)
                colour = QTableWidgetItem()
                colour.setFlags(flags)
                colour.setBackground(QColor(*s.colour))
                name = QTableWidgetItem(s.label)
                self.table.setItem(row, 0, show)
                self.table.setItem(row, 1, colour)
                self.table.setItem(row, 2, name)
            if current in self._numbers:
                self.table.selectRow(self._numbers.index(current))
                self.opacity.setValue(round(100 * segments[self._numbers.index(current)].opacity))
        finally:
            self._filling = False
        has = segments is not None and bool(self._numbers)
        for w in (self.remove_button, self.opacity, *self.tool_buttons.values(), *self.action_buttons.values(),
                  self.save_seg_button, self.save_map_button, self.surfaces_button):
            w.setEnabled(has)

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def set_tool(self, tool: str | None) -> None:
        name = next(n for n, t in TOOLS.items() if t == tool)
        self.tool_buttons[name].setChecked(True)

    def _brush(self) -> None:
        self.brushChanged.emit(self.radius.value(), self.sphere.isChecked())

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        number = self._numbers[item.row()]
        if item.column() == 0:
            self.visibilityChanged.emit(number, item.checkState() == Qt.CheckState.Checked)
        elif item.column() == 2:
            self.renamed.emit(number, item.text())

    def _double_clicked(self, row: int, column: int) -> None:
        if column != 1:
            return
        colour = QColorDialog.getColor(self.table.item(row, 1).background().color(), self, "Segment colour")
        if colour.isValid():
            self.recoloured.emit(self._numbers[row], (colour.red(), colour.green(), colour.blue()))

    def _selection_changed(self) -> None:
        if not self._filling and self.current is not None:
            self.selected.emit(self.current)
