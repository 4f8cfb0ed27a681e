"""The viewer's toolbar: every display control of the viewer reachable with the mouse, as in Horos or RadiAnt.

Why a toolbar and not only keys: the keys (``widgets.help_panel.SHORTCUTS``)
are for the trained hand; a reader new to the program finds layout, tools,
window presets, invert, colour map, interpolation, thick slab, cine, reset,
crosshair and annotation switches and the help here. The toolbar drives the
viewer model's main series (slot 0) and follows it back through
``Viewer.controlsChanged`` and ``windowChanged``, so a key press (I, L, C,
...) shows in the buttons too. The layout is only requested
(``layoutRequested``): the window owns it, because it persists it.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QSpinBox, QToolBar, QWidget

from widgets.viewer import LAYOUTS, Viewer
from widgets.vtk_bridge import colormaps
from workstation.viewer_model.display import SLAB_MODES, Window

TOOLS = {"W/L": None, "Ruler": "ruler", "Angle": "angle", "Ellipse": "ellipse", "Rectangle": "rectangle"}
"""Button text -> ``Viewer.set_tool`` kind; "W/L" is no tool: the left drag sets window and level."""
TOOL_TIPS = {"W/L": "Left drag sets window/level (Esc)", "Ruler": "Ruler in mm (L)", "Angle": "Angle (A)",
             "Ellipse": "Ellipse ROI (E)", "Rectangle": "Rectangle ROI (B)"}
SLAB_LABELS = {"none": "Thin", "mip": "MIP", "minip": "MinIP", "mean": "Mean"}
PRESET_PROMPT = "W/L preset..."


class ViewToolbar(QToolBar):
    """Layout, tools, window presets, display switches, slab, cine, reset and help for one ``Viewer``."""

    layoutRequested = Signal(str)

    def __init__(self, viewer: Viewer, parent: QWidget | None = None) -> None:
        super().__init__("View", parent)
        self.setObjectName("toolbar-view")
        self.viewer = viewer
        self.layout_actions = self._exclusive({name: name for name in LAYOUTS}, self.layoutRequested.emit,
                                              {name: f"Layout {name}" for name in LAYOUTS})
        self.addSeparator()
        self.tool_actions = self._exclusive(TOOLS, viewer.model.set_tool, TOOL_TIPS)
        self.addSeparator()

        self.presets = QComboBox(toolTip="Window/level presets of this modality and from the header (1-9)")
        self.presets.activated.connect(self._preset_chosen)
        self.addWidget(self.presets)
        self.window_label = QLabel()
        self.addWidget(self.window_label)
        self.invert = self._switch("Invert", lambda on: viewer.model.set_invert(on), "Invert the grey scale (I)")
        self.colormap = QComboBox(toolTip="Colour map")
        self.colormap.addItems(list(colormaps()))
        self.colormap.currentTextChanged.connect(lambda name: viewer.model.set_colormap(name))
        self.addWidget(self.colormap)
        self.interpolation = self._switch("Smooth", lambda on: viewer.model.set_interpolation(on),
                                          "Linear interpolation; off shows the stored pixels")
        self.addSeparator()

        self.slab_mode = QComboBox(toolTip="Thick slab: maximum, minimum or mean over the thickness")
        for mode in SLAB_MODES:
            self.slab_mode.addItem(SLAB_LABELS[mode], mode)
        self.slab_mm = QDoubleSpinBox(suffix=" mm", decimals=1, minimum=0.0, maximum=200.0, value=10.0,
                                      singleStep=1.0, toolTip="Slab thickness")
        self.slab_mode.currentIndexChanged.connect(self._apply_slab)
        self.slab_mm.valueChanged.connect(self._apply_slab)
        self.addWidget(self.slab_mode)
        self.addWidget(self.slab_mm)
        self.addSeparator()

        self.time = QSpinBox(prefix="Time ", minimum=1, maximum=1, toolTip="Time point of a 4D series")
        self.time.valueChanged.connect(lambda n: viewer.model.set_time_point(n - 1))
        self.time_action = self.addWidget(self.time)
        self.time_action.setVisible(False)
        self.cine = self._switch("Cine", self._cine, "Play through the slices of the active view, or through the "
                                                     "time points of a 4D series (C)")
        self.fps = QDoubleSpinBox(suffix=" fps", decimals=0, minimum=1, maximum=60, value=10, toolTip="Cine speed")
        self.fps.valueChanged.connect(self._fps_changed)
        self.addWidget(self.fps)
        self.addSeparator()

        self.reset = self.addAction("Reset", lambda: viewer.model.reset())
        self.reset.setToolTip("Crosshair to the centre, no obliquity, zoom 1 (R)")
        self.crosshair = self._switch("Crosshair", lambda on: viewer.model.set_crosshair_visible(on),
                                      "Show the crosshair")
        self.annotations = self._switch("Text", lambda on: viewer.model.set_annotations_visible(on),
                                        "Corner text, orientation letters and scale bar")
        for action in (self.crosshair, self.annotations):
            action.setChecked(True)
        self.help = self.addAction("Help", lambda: viewer.show_help())
        self.help.setToolTip("Mouse and key shortcuts (H, F1)")

        viewer.controlsChanged.connect(self.sync)
        viewer.windowChanged.connect(self._show_window)
        self.sync()

    # -- construction --------------------------------------------------------------------------
    def _exclusive(self, choices: dict, on_choice, tips: dict[str, str]) -> dict[str, QAction]:
        group = QActionGroup(self)
        actions = {}
        for text, value in choices.items():
            action = self.addAction(text, lambda v=value: on_choice(v))
            action.setCheckable(True)
            action.setToolTip(tips[text])
            group.addAction(action)
            actions[value if isinstance(value, str) else text] = action
        return actions

    def _switch(self, text: str, on_toggle, tip: str) -> QAction:
        action = self.addAction(text)
        action.setCheckable(True)
        action.setToolTip(tip)
        action.toggled.connect(on_toggle)
        return action

    # -- user actions ----------------------------------------------------------------------------
    def _preset_chosen(self, index: int) -> None:
        if index > 0:
            self.viewer.model.apply_preset(self.presets.itemText(index))
        with QSignalBlocker(self.presets):
            self.presets.setCurrentIndex(0)

    def _apply_slab(self) -> None:
        self.viewer.model.set_slab(self.slab_mode.currentData(), self.slab_mm.value())

    def _cine(self, on: bool) -> None:
        if on and not self.viewer.cine_running:
            self.viewer.start_cine(fps=self.fps.value())
        elif not on and self.viewer.cine_running:
            self.viewer.stop_cine()

    def _fps_changed(self, fps: float) -> None:
        if self.viewer.cine_running:
            self.viewer.start_cine(fps=fps)

    # -- following the viewer --------------------------------------------------------------------
    def set_layout_shown(self, name: str) -> None:
        """Check the button of the layout the window shows (changed from the menu or restored settings)."""
        if name in self.layout_actions:
            with QSignalBlocker(self.layout_actions[name]):
                self.layout_actions[name].setChecked(True)

    def volume_changed(self) -> None:
        """A new series is shown: its presets (header ones first) and its window."""
        with QSignalBlocker(self.presets):
            self.presets.clear()
            self.presets.addItem(PRESET_PROMPT)
            if self.viewer.model.volume() is not None:
                self.presets.addItems(self.viewer.model.preset_names())
        self.sync()
        self._show_window(self.viewer.model.window())

    def sync(self) -> None:
        """Show the viewer's state without acting on it (a key press changed it, or a new series)."""
        volume = self.viewer.model.volume()
        timepoints = volume.timepoints if volume is not None else 1
        with QSignalBlocker(self.time):
            self.time.setMaximum(timepoints)
        self.time_action.setVisible(timepoints > 1)
        settings = self.viewer.model.display_settings()
        tool_key = self.viewer.model.tool if self.viewer.model.tool is not None else "W/L"
        mode, mm = settings["slab"]
        for widget, set_value in (
            (self.tool_actions[tool_key], lambda a: a.setChecked(True)),
            (self.invert, lambda a: a.setChecked(settings["invert"])),
            (self.interpolation, lambda a: a.setChecked(settings["interpolation"])),
            (self.colormap, lambda c: c.setCurrentText(settings["colormap"])),
            (self.slab_mode, lambda c: c.setCurrentIndex(SLAB_MODES.index(mode))),
            (self.slab_mm, lambda b: b.setValue(mm) if mode != "none" else None),
            (self.cine, lambda a: a.setChecked(self.viewer.cine_running)),
            (self.time, lambda b: b.setValue(self.viewer.model.slot().time_point + 1)),
        ):
            with QSignalBlocker(widget):
                set_value(widget)

    def _show_window(self, window: Window) -> None:
        self.window_label.setText(f" W {window.width:.0f} L {window.center:.0f} ")
