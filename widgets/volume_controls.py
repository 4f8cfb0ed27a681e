"""Controls of the 3D view: rendering preset with shift and opacity, mode, isosurface threshold, crop box.

Why a panel: ``VolumeView`` holds the 3D rendering parameters but has no
controls of its own (a 3D view is small in the 2x2 layout). The panel asks
for the view through a callable each time, because the viewer creates the
3D view lazily and replaces it with the series. Every change asks the view
for one repaint (``VolumeView.render``), which Qt merges: dragging a slider
does not queue a software-OpenGL frame per pixel moved.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

from widgets.volume_view import MODES, VolumeView, preset_names

SHIFT_RANGE = 1000
"""The preset shift slider spans +-1000 data units (HU for CT)."""
AXES = ("i (columns)", "j (rows)", "k (slices)")


def _slider(low: int, high: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    return slider


class VolumeControls(QWidget):
    """Preset, shift, opacity, mode, iso threshold and a crop box (per voxel axis) for a ``VolumeView``."""

    def __init__(self, view: Callable[[], VolumeView | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._view = view
        self.preset = QComboBox()
        self.preset.addItems(preset_names())
        self.shift = _slider(-SHIFT_RANGE, SHIFT_RANGE, 0)
        self.opacity = _slider(0, 200, 100)
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.iso = QDoubleSpinBox(decimals=0, minimum=-5000, maximum=50000, value=300, singleStep=10)
        self.crop_lower = [_slider(0, 100, 0) for _ in AXES]
        self.crop_upper = [_slider(0, 100, 100) for _ in AXES]
        form = QFormLayout(self)
        form.addRow("Preset", self.preset)
        form.addRow("Shift", self.shift)
        form.addRow("Opacity", self.opacity)
        form.addRow("Mode", self.mode)
        form.addRow("Iso threshold", self.iso)
        form.addRow(QLabel("Crop box (from, to)"))
        for axis, low, high in zip(AXES, self.crop_lower, self.crop_upper, strict=True):
            row = QHBoxLayout()
            row.addWidget(low)
            row.addWidget(high)
            form.addRow(axis, row)

        self.preset.currentTextChanged.connect(self._transfer_changed)
        self.shift.valueChanged.connect(self._transfer_changed)
        self.opacity.valueChanged.connect(self._transfer_changed)
        self.mode.currentTextChanged.connect(lambda mode: self._apply(lambda v: v.set_mode(mode)))
        self.iso.valueChanged.connect(lambda value: self._apply(lambda v: v.set_iso_threshold(value)))
        for slider in (*self.crop_lower, *self.crop_upper):
            slider.valueChanged.connect(self._crop_changed)

    def _apply(self, change: Callable[[VolumeView], None]) -> None:
        view = self._view()
        if view is not None and view.volume is not None:
            change(view)
            view.render()

    def _transfer_changed(self) -> None:
        self._apply(lambda v: v.set_preset(self.preset.currentText(), self.shift.value(),
                                           self.opacity.value() / 100.0))

    def crop_fractions(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """(lower, upper) fractions of the i, j, k extents; None when the box is the whole volume."""
        lower = tuple(s.value() / 100.0 for s in self.crop_lower)
        upper = tuple(max(s.value() / 100.0, lo) for s, lo in zip(self.crop_upper, lower, strict=True))
        return None if lower == (0.0,) * 3 and upper == (1.0,) * 3 else (lower, upper)

    def _crop_changed(self) -> None:
        box = self.crop_fractions()
        self._apply(lambda v: v.set_crop(None) if box is None else v.set_crop(*box))

    def sync(self) -> None:
        """Show the view's parameters (a new series gets its modality's preset and no crop)."""
        view = self._view()
        if view is None or view.volume is None:
            return
        lower, upper = view.crop if view.crop is not None else ((0.0,) * 3, (1.0,) * 3)
        pairs = [(self.preset, lambda w: w.setCurrentText(view.preset)),
                 (self.shift, lambda w: w.setValue(round(view.shift))),
                 (self.opacity, lambda w: w.setValue(round(view.opacity * 100))),
                 (self.mode, lambda w: w.setCurrentText(view.mode)),
                 (self.iso, lambda w: w.setValue(view.iso_threshold))]
        pairs += [(s, lambda w, x=x: w.setValue(round(x * 100))) for s, x in zip(self.crop_lower, lower, strict=True)]
        pairs += [(s, lambda w, x=x: w.setValue(round(x * 100))) for s, x in zip(self.crop_upper, upper, strict=True)]
        for widget, set_value in pairs:
            with QSignalBlocker(widget):
                set_value(widget)
