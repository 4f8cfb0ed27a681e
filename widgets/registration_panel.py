"""The registration panel: choose the pair, the preset and its parameters, run, watch, fuse, adjust, keep, export.

It only shows and asks: every control emits what the user wants and the
controller (``workstation.app.registration_controller``) does it and tells
the panel what to show. Widgets do not import the registration package, so
presets come in as names and parameters as JSON text.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.fusion import MODES, FusionSettings
from widgets.metric_plot import MetricPlot

INITS = {"Automatic (orientation search)": "auto", "Orientation search": "search", "Centres of mass": "moments",
         "Geometric centres": "geometry", "Scanner placement": "scanner", "Current transform": "current"}
EXPORTS = {"transform": ("Transform", "Transform (*.tfm *.h5 *.json)", "registration.tfm"),
           "nifti": ("Resampled NIfTI", "NIfTI (*.nii.gz *.nii)", "registered.nii.gz"),
           "dicom": ("Resampled DICOM series", "", "")}
DEFORMATION_OVERLAYS = {"None": "none", "Jacobian determinant": "jacobian", "Displacement (mm)": "displacement"}
NUDGE_HELP = ("Alt+arrows / Alt+Page Up/Down: move the moving image 1 mm; Alt+, Alt+.: turn 1 degree; "
              "Alt+left drag: move; Alt+right drag: turn about the crosshair.")


def _button(text: str, slot, layout, enabled: bool = True) -> QPushButton:
    button = QPushButton(text)
    button.clicked.connect(lambda _checked=False: slot())
    button.setEnabled(enabled)
    layout.addWidget(button)
    return button


class RegistrationPanel(QWidget):
    """Controls for one fixed/moving pair; see the module docstring."""

    pairChosen = Signal(str, str)                  # fixed key, moving key
    fusionChanged = Signal(object)                 # FusionSettings
    presetChosen = Signal(str)                     # preset name: the controller answers with its JSON
    runRequested = Signal(str, str, int)           # parameters JSON, init, seed
    cancelRequested = Signal()
    acceptRequested = Signal()
    revertRequested = Signal()
    resetRequested = Signal()
    historyApplyRequested = Signal(int)
    historyRerunRequested = Signal(int)
    landmarkModeToggled = Signal(bool)
    landmarksCleared = Signal()
    landmarkFitRequested = Signal()
    exportRequested = Signal(str, str)             # kind (transform, nifti, dicom), path
    deformationViewChanged = Signal(str, bool)     # overlay (none, jacobian, displacement), warped grid shown
    movingLabelsChanged = Signal(bool, float)      # the moving image's labels shown, their opacity

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._has_pair = self._running = False
        layout = QVBoxLayout(self)
        layout.addWidget(self._pair_box())
        layout.addWidget(self._fusion_box())
        layout.addWidget(self._run_box())
        layout.addWidget(self._result_box())
        layout.addWidget(self._deformation_box())
        layout.addWidget(self._history_box())
        layout.addWidget(self._landmark_box())
        layout.addWidget(self._export_box())
        layout.addStretch(1)
        self._enable()

    # -- construction ------------------------------------------------------------------------
    def _pair_box(self) -> QGroupBox:
        box = QGroupBox("Images")
        form = QFormLayout(box)
        self.fixed_combo, self.moving_combo = QComboBox(), QComboBox()
        form.addRow("Fixed", self.fixed_combo)
        form.addRow("Moving", self.moving_combo)
        row = QHBoxLayout()
        self.fuse_button = _button("Fuse", self._choose_pair, row)
        form.addRow(row)
        return box

    def _fusion_box(self) -> QGroupBox:
        box = QGroupBox("Fusion")
        form = QFormLayout(box)
        self.mode_combo = QComboBox()
        self.mode_combo.addItems([m.capitalize() for m in MODES])
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.square_spin = QDoubleSpinBox()
        self.square_spin.setRange(1.0, 200.0)
        self.square_spin.setValue(20.0)
        self.square_spin.setSuffix(" mm")
        self.swap_check = QCheckBox("Fixed image on top")
        self.labels_check = QCheckBox("Moving image's labels")
        self.labels_check.setChecked(True)
        self.labels_opacity = QSlider(Qt.Orientation.Horizontal)
        self.labels_opacity.setRange(0, 100)
        self.labels_opacity.setValue(100)
        self.labels_opacity.setToolTip("Opacity of the moving image's labels (times each segment's own)")
        form.addRow("Mode", self.mode_combo)
        form.addRow("Opacity", self.opacity_slider)
        form.addRow("Squares", self.square_spin)
        form.addRow(self.swap_check)
        form.addRow(self.labels_check)
        form.addRow("Labels opacity", self.labels_opacity)
        self.set_has_moving_labels(False)
        self.mode_combo.currentIndexChanged.connect(self._fusion_changed)
        self.opacity_slider.valueChanged.connect(self._fusion_changed)
        self.square_spin.valueChanged.connect(self._fusion_changed)
        self.swap_check.toggled.connect(self._fusion_changed)
        self.labels_check.toggled.connect(self._moving_labels_changed)
        self.labels_opacity.valueChanged.connect(self._moving_labels_changed)
        return box

    def _run_box(self) -> QGroupBox:
        box = QGroupBox("Register")
        form = QFormLayout(box)
        self.preset_combo = QComboBox()
        self.preset_combo.currentTextChanged.connect(lambda name: name and self.presetChosen.emit(name))
        self.init_combo = QComboBox()
        self.init_combo.addItems(list(INITS))
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.advanced_check = QCheckBox("Advanced parameters (JSON)")
        self.parameters_edit = QPlainTextEdit()
        self.parameters_edit.setMinimumHeight(160)
        self.parameters_edit.hide()
        self.advanced_check.toggled.connect(self.parameters_edit.setVisible)
        form.addRow("Preset", self.preset_combo)
        form.addRow("Start", self.init_combo)
        form.addRow("Seed", self.seed_spin)
        form.addRow(self.advanced_check)
        form.addRow(self.parameters_edit)
        row = QHBoxLayout()
        self.run_button = _button("Run", self._run, row)
        self.cancel_button = _button("Cancel", self.cancelRequested.emit, row)
        form.addRow(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = MetricPlot()
        form.addRow(self.progress)
        form.addRow(self.status)
        form.addRow(self.plot)
        return box

    def _result_box(self) -> QGroupBox:
        box = QGroupBox("Transform")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.accept_button = _button("Accept", self.acceptRequested.emit, row)
        self.revert_button = _button("Revert", self.revertRequested.emit, row)
        self.reset_button = _button("Identity", self.resetRequested.emit, row)
        column.addLayout(row)
        self.transform_label = QLabel()
        self.transform_label.setWordWrap(True)
        column.addWidget(self.transform_label)
        hint = QLabel(NUDGE_HELP)
        hint.setWordWrap(True)
        column.addWidget(hint)
        return box

    def _deformation_box(self) -> QGroupBox:
        """How a deformable result is shown: a map over the fixed image, the warped grid, the folding count."""
        box = QGroupBox("Deformation")
        form = QFormLayout(box)
        self.overlay_combo = QComboBox()
        for text, kind in DEFORMATION_OVERLAYS.items():
            self.overlay_combo.addItem(text, kind)
        self.grid_check = QCheckBox("Warped grid")
        self.deformation_label = QLabel()
        self.deformation_label.setWordWrap(True)
        form.addRow("Overlay", self.overlay_combo)
        form.addRow(self.grid_check)
        form.addRow(self.deformation_label)
        self.overlay_combo.currentIndexChanged.connect(self._deformation_changed)
        self.grid_check.toggled.connect(self._deformation_changed)
        self.set_deformation(None)
        return box

    def _history_box(self) -> QGroupBox:
        box = QGroupBox("History")
        column = QVBoxLayout(box)
        self.history_list = QListWidget()
        self.history_list.setMaximumHeight(120)
        column.addWidget(self.history_list)
        row = QHBoxLayout()
        self.apply_button = _button("Apply", lambda: self._history(self.historyApplyRequested), row)
        self.rerun_button = _button("Run again", lambda: self._history(self.historyRerunRequested), row)
        column.addLayout(row)
        return box

    def _landmark_box(self) -> QGroupBox:
        box = QGroupBox("Landmarks")
        grid = QGridLayout(box)
        self.landmark_check = QCheckBox("Place landmarks (click: fixed, then moving)")
        self.landmark_check.toggled.connect(self.landmarkModeToggled.emit)
        self.landmark_label = QLabel()
        grid.addWidget(self.landmark_check, 0, 0, 1, 2)
        grid.addWidget(self.landmark_label, 1, 0, 1, 2)
        row = QHBoxLayout()
        self.clear_landmarks_button = _button("Clear", self.landmarksCleared.emit, row)
        self.fit_button = _button("Fit (landmark-rigid)", self.landmarkFitRequested.emit, row)
        grid.addLayout(row, 2, 0, 1, 2)
        self.set_landmark_counts(0, 0)
        return box

    def _export_box(self) -> QGroupBox:
        box = QGroupBox("Export")
        column = QVBoxLayout(box)
        self.export_buttons = {kind: _button(f"{text}...", lambda k=kind: self._ask_export(k), column)
                               for kind, (text, _, _) in EXPORTS.items()}
        return box

    # -- what the user did ---------------------------------------------------------------------
    def _choose_pair(self) -> None:
        fixed, moving = self.fixed_combo.currentData(), self.moving_combo.currentData()
        if fixed and moving:
            self.pairChosen.emit(fixed, moving)

    def fusion_settings(self) -> FusionSettings:
        return FusionSettings(mode=MODES[self.mode_combo.currentIndex()], opacity=self.opacity_slider.value() / 100,
                              square_mm=self.square_spin.value(), swap=self.swap_check.isChecked())

    def _fusion_changed(self, *_: object) -> None:
        mode = MODES[self.mode_combo.currentIndex()]
        self.opacity_slider.setEnabled(mode in ("blend", "overlay"))
        self.square_spin.setEnabled(mode == "checkerboard")
        self.fusionChanged.emit(self.fusion_settings())

    def moving_labels_display(self) -> tuple[bool, float]:
        """Whether the moving image's labels are shown, and their opacity (0..1)."""
        return self.labels_check.isChecked(), self.labels_opacity.value() / 100

    def _moving_labels_changed(self, *_: object) -> None:
        self.movingLabelsChanged.emit(*self.moving_labels_display())

    def set_has_moving_labels(self, has: bool) -> None:
        """The labels' controls act only while the moving image has labels."""
        for widget in (self.labels_check, self.labels_opacity):
            widget.setEnabled(has)

    def deformation_view(self) -> tuple[str, bool]:
        return self.overlay_combo.currentData(), self.grid_check.isChecked()

    def _deformation_changed(self, *_: object) -> None:
        self.deformationViewChanged.emit(*self.deformation_view())

    def _run(self) -> None:
        self.runRequested.emit(self.parameters_edit.toPlainText(), INITS[self.init_combo.currentText()],
                               self.seed_spin.value())

    def _history(self, signal) -> None:
        row = self.history_list.currentRow()
        if row >= 0:
            signal.emit(row)

    def _ask_export(self, kind: str) -> None:
        text, filters, default = EXPORTS[kind]
        if kind == "dicom":
            path = QFileDialog.getExistingDirectory(self, f"{text}: an empty folder")
        else:
            path, _ = QFileDialog.getSaveFileName(self, text, default, filters)
        if path:
            self.exportRequested.emit(kind, path)

    # -- what the controller shows ---------------------------------------------------------------
    def set_volumes(self, items: list[tuple[str, str]]) -> None:
        """(key, label) of the volumes that can be registered; the current choices are kept when still there."""
        for combo, fallback in ((self.fixed_combo, 0), (self.moving_combo, 1)):
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for key, label in items:
                combo.addItem(label, key)
            index = combo.findData(current) if current is not None else -1
            combo.setCurrentIndex(index if index >= 0 else min(fallback, len(items) - 1))
            combo.blockSignals(False)
        self.fuse_button.setEnabled(len(items) >= 2)

    def choose(self, fixed_key: str, moving_key: str) -> None:
        self.fixed_combo.setCurrentIndex(self.fixed_combo.findData(fixed_key))
        self.moving_combo.setCurrentIndex(self.moving_combo.findData(moving_key))

    def set_presets(self, names: list[str], current: str) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        self.preset_combo.addItems(names)
        self.preset_combo.blockSignals(False)
        self.preset_combo.setCurrentText(current)
        self.presetChosen.emit(current)

    def set_parameters_text(self, text: str) -> None:
        self.parameters_edit.setPlainText(text)

    def set_has_pair(self, has: bool) -> None:
        self._has_pair = has
        self._enable()

    def set_running(self, running: bool) -> None:
        self._running = running
        self._enable()

    def _enable(self) -> None:
        ready = self._has_pair and not self._running
        for widget in (self.run_button, self.accept_button, self.revert_button, self.reset_button, self.apply_button,
                       self.rerun_button, self.fit_button, *self.export_buttons.values()):
            widget.setEnabled(ready)
        self.cancel_button.setEnabled(self._running)

    def set_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(fraction * 1000)))
        self.status.setText(message)

    def set_status(self, message: str) -> None:
        self.status.setText(message)

    def set_transform_text(self, text: str) -> None:
        self.transform_label.setText(text)

    def set_history(self, labels: list[str]) -> None:
        self.history_list.clear()
        self.history_list.addItems(labels)
        self.history_list.setCurrentRow(len(labels) - 1)

    def set_landmark_counts(self, fixed: int, moving: int) -> None:
        nxt = "fixed" if fixed <= moving else "moving"
        self.landmark_label.setText(f"{min(fixed, moving)} pairs; next click: {nxt} point")

    def set_deformation(self, text: str | None) -> None:
        """The shown result is deformable (``text``: its folding count and range) or not (None: controls off)."""
        self.overlay_combo.setEnabled(text is not None)
        self.grid_check.setEnabled(text is not None)
        self.deformation_label.setText(text or "The shown transform is linear.")
