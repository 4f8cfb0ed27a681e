"""The viewer: linked axial, coronal and sagittal views plus 3D, for one series or two side by side.

It owns the view state (``workstation.viewer_model.display``: crosshair, oblique axes,
window, camera) and the measurements of each series, and pushes them into its
views; views report user actions back as signals. Slot 0 is the main series,
slot 1 an optional second one (a prior, or an MR beside a CT) shown to its
right; position, zoom and window are shared between the two where linked.
The crosshair is linked in LPS mm, which is meaningful between series of one
frame of reference (or after registration).

While a series is still loading, the loader fills its array in place; call
``volume_modified()`` as slices arrive (and ``volume_modified(complete=True)``
at the end) to show them. All rendering happens here, on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget

from widgets.help_panel import HelpPanel
from widgets.slice_view import SliceView
from widgets.volume_view import VolumeView
from widgets.vtk_bridge import to_qimage
from workstation import measurements as mm
from workstation.viewer_model.display import (
    SLAB_MODES,
    VIEW_NAMES,
    Camera2D,
    MprState,
    Window,
    default_window,
    preset_names,
    preset_window,
)
from workstation.volume import Volume

LAYOUTS: dict[str, list[list[str]]] = {
    "1x1": [["active"]],
    "1x3": [["axial", "coronal", "sagittal"]],
    "2x2": [["axial", "coronal"], ["sagittal", "3d"]],
}
TOOL_KEYS = {"l": "ruler", "a": "angle", "e": "ellipse", "b": "rectangle"}


@dataclass
class _Slot:
    """One series on screen: its volume, state, display settings, views and measurements."""

    container: QWidget
    grid: QGridLayout
    views: dict[str, SliceView]
    volume: Volume | None = None
    state: MprState | None = None
    window: Window = field(default_factory=lambda: Window(40, 400))
    colormap: str = "Grey"
    invert: bool = False
    interpolation: bool = True
    slab: tuple[str, float] = ("none", 0.0)
    volume_view: VolumeView | None = None
    measurements: list[mm.Measurement] = field(default_factory=list)
    selected: str | None = None


class Viewer(QWidget):
    """Layouts of linked MPR views and a 3D view; see the module docstring."""

    positionChanged = Signal(object)   # LPS np.ndarray
    probe = Signal(object)             # dict: lps, ijk, value, units, view, slot
    measurementsChanged = Signal()
    windowChanged = Signal(object)     # Window of slot 0
    controlsChanged = Signal()         # tool, display settings, cine or links changed (keys too): panels follow

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self._slots: list[_Slot] = []
        for _ in range(2):
            container = QWidget(self)
            grid = QGridLayout(container)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setSpacing(2)
            row.addWidget(container)
            container.hide()
            self._slots.append(_Slot(container, grid, {}))
        self.layout_name = "2x2"
        self.maximised: str | None = None
        self.active_view = "axial"
        self.tool: str | None = None
        self.hide_identity = False
        self.links = {"position": True, "zoom": True, "window": False}
        self._cine = QTimer(self)
        self._cine.timeout.connect(self._cine_step)
        self._cine_view = "axial"
        self._help: HelpPanel | None = None
        self._closed = False
        self._pending: set[int] = set()
        self._render_timer = QTimer(self, singleShot=True, interval=0)
        self._render_timer.timeout.connect(self.flush)

    # -- series ------------------------------------------------------------------------
    def set_volume(self, volume: Volume, slot: int = 0) -> None:
        """Show ``volume`` in ``slot`` (1 = a second series beside the first), centred, with its default window."""
        s = self._slots[slot]
        if not s.views:
            s.views = {name: self._make_view(name, slot) for name in VIEW_NAMES}
        s.volume = volume
        s.state = MprState.centred(volume)
        if slot == 1 and self.links["position"] and self._slots[0].state is not None:
            s.state.position = self._slots[0].state.position.copy()
        s.window = default_window(volume)
        s.measurements = [m for m in s.measurements if m.series_uid == volume.meta.series_uid]
        for view in s.views.values():
            view.set_volume(volume)
            view.set_hide_identity(self.hide_identity)
            view.set_tool(self.tool)
        if s.volume_view is not None:
            s.volume_view.set_volume(volume)
        s.container.show()
        self._push_display(slot)
        self._push_planes(slot)
        self._push_measurements(slot)
        self._arrange()
        self.render_all()

    def volume(self, slot: int = 0) -> Volume | None:
        return self._slots[slot].volume

    def clear_slot(self, slot: int) -> None:
        """Stop showing the second series (slot 1): its views are closed and released."""
        s = self._slots[slot]
        for view in [*s.views.values(), *([s.volume_view] if s.volume_view else [])]:
            view.close_view()
            view.deleteLater()
        s.views, s.volume_view, s.volume, s.state = {}, None, None, None
        s.container.hide()

    def volume_modified(self, slot: int = 0, complete: bool = False) -> None:
        """The slot's voxels changed in place (progressive loading): re-slice and render.

        The 3D view re-uploads its whole texture, so it follows only when ``complete``.
        """
        s = self._slots[slot]
        for view in s.views.values():
            view.volume_modified()
        if complete and s.volume_view is not None:
            s.volume_view.volume_modified()
        if complete:
            self.render_all()
        else:
            self._render_2d([slot])

    # -- layout ------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        """'1x1' (the active view), '1x3' (axial, coronal, sagittal) or '2x2' (the three and 3D)."""
        if name not in LAYOUTS:
            raise ValueError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
        self.layout_name, self.maximised = name, None
        self._arrange()
        self.render_all()

    def maximise(self, view_name: str | None) -> None:
        """Show only ``view_name`` ('axial', 'coronal', 'sagittal' or '3d'); None goes back to the layout."""
        if view_name is not None and view_name not in (*VIEW_NAMES, "3d"):
            raise ValueError(f"unknown view {view_name!r}")
        self.maximised = view_name
        if view_name is not None:
            self.active_view = view_name
        self._arrange()
        self.render_all()

    def _visible_names(self) -> list[list[str]]:
        if self.maximised is not None:
            return [[self.maximised]]
        rows = LAYOUTS[self.layout_name]
        return [[self.active_view if n == "active" else n for n in r] for r in rows]

    def _arrange(self) -> None:
        names = self._visible_names()
        for slot, s in enumerate(self._slots):
            if s.volume is None:
                continue
            for widget in [*s.views.values(), s.volume_view]:
                if widget is not None:
                    s.grid.removeWidget(widget)
                    widget.hide()
            for r, row in enumerate(names):
                for c, name in enumerate(row):
                    widget = self._view_widget(slot, name)
                    s.grid.addWidget(widget, r, c)
                    widget.show()

    def _view_widget(self, slot: int, name: str) -> QWidget:
        s = self._slots[slot]
        if name != "3d":
            return s.views[name]
        if s.volume_view is None:
            s.volume_view = VolumeView(s.container)
            s.volume_view.doubleClicked.connect(self._toggle_maximise)
            s.volume_view.set_volume(s.volume)
        return s.volume_view

    def visible_views(self) -> list[SliceView | VolumeView]:
        """Every view on screen, slot by slot."""
        out = []
        for slot, s in enumerate(self._slots):
            if s.volume is not None:
                out += [self._view_widget(slot, n) for row in self._visible_names() for n in row]
        return out

    def slice_view(self, name: str, slot: int = 0) -> SliceView:
        return self._slots[slot].views[name]

    def volume_view(self, slot: int = 0) -> VolumeView:
        """The slot's 3D view (created on first use)."""
        return self._view_widget(slot, "3d")

    # -- crosshair and slices ------------------------------------------------------------------
    def _linked_slots(self, slot: int, link: str) -> list[int]:
        others = [n for n, s in enumerate(self._slots) if n != slot and s.volume is not None]
        return [slot, *others] if self.links[link] else [slot]

    def set_position(self, lps: np.ndarray, slot: int = 0) -> None:
        """Move the crosshair to an LPS point; every view of linked series follows."""
        lps = np.asarray(lps, dtype=np.float64).copy()
        slots = self._linked_slots(slot, "position")
        for n in slots:
            self._slots[n].state.position = lps.copy()
            self._push_planes(n)
        self._render_2d(slots)
        self.positionChanged.emit(lps)

    def position(self, slot: int = 0) -> np.ndarray:
        return self._slots[slot].state.position.copy()

    def step_slice(self, view_name: str, slices: int, slot: int = 0) -> None:
        """Move the crosshair ``slices`` slices along a view's normal, onto slice centres."""
        view = self._slots[slot].views[view_name]
        self.set_position(view.stack.snapped(self._slots[slot].state.position, slices), slot)

    def rotate_crosshair(self, view_name: str, degrees: float, slot: int = 0) -> None:
        """Oblique MPR: turn the crosshair axes seen in ``view_name``; the other two views turn with them."""
        self._slots[slot].state.rotate(view_name, degrees)
        self._push_planes(slot)
        self._render_2d([slot])

    def reset(self, slot: int = 0) -> None:
        """Crosshair to the volume centre, no obliquity, zoom 1 and no pan in every view."""
        slots = self._linked_slots(slot, "position")
        for n in slots:
            s = self._slots[n]
            s.state = MprState.centred(s.volume)
            for view in s.views.values():
                view.set_camera(Camera2D())
            self._push_planes(n)
        self._render_2d(slots)
        self.positionChanged.emit(self.position(slot))

    def _push_planes(self, slot: int) -> None:
        s = self._slots[slot]
        for name, view in s.views.items():
            view.set_plane(s.state.plane(name), s.state.crosshair_directions(name), s.state.oblique)

    # -- window, colour, slab ---------------------------------------------------------------------
    def set_window(self, center: float, width: float, slot: int = 0) -> None:
        slots = self._linked_slots(slot, "window")
        for n in slots:
            self._slots[n].window = Window(float(center), max(float(width), 1e-3))
            self._push_display(n)
        self._render_2d(slots)
        if slot == 0:
            self.windowChanged.emit(self._slots[0].window)

    def window(self, slot: int = 0) -> Window:
        return self._slots[slot].window

    def preset_names(self, slot: int = 0) -> list[str]:
        """Header presets, the modality's presets, then 'Auto'."""
        return preset_names(self._slots[slot].volume)

    def apply_preset(self, name: str, slot: int = 0) -> None:
        w = preset_window(self._slots[slot].volume, name)
        self.set_window(w.center, w.width, slot)

    def set_colormap(self, name: str, slot: int = 0) -> None:
        self._slots[slot].colormap = name
        self._push_display(slot)
        self._render_2d([slot])
        self.controlsChanged.emit()

    def set_invert(self, invert: bool, slot: int = 0) -> None:
        self._slots[slot].invert = invert
        self._push_display(slot)
        self._render_2d([slot])
        self.controlsChanged.emit()

    def set_interpolation(self, on: bool, slot: int = 0) -> None:
        self._slots[slot].interpolation = on
        self._push_display(slot)
        self._render_2d([slot])
        self.controlsChanged.emit()

    def set_slab(self, mode: str, thickness_mm: float = 0.0, slot: int = 0) -> None:
        """Thick slab in the 2D views: 'mip', 'minip' or 'mean' over ``thickness_mm``; 'none' for thin slices."""
        if mode not in SLAB_MODES:
            raise ValueError(f"unknown slab mode {mode!r}; expected one of {', '.join(SLAB_MODES)}")
        self._slots[slot].slab = (mode, float(thickness_mm))
        self._push_display(slot)
        self._render_2d([slot])
        self.controlsChanged.emit()

    def display_settings(self, slot: int = 0) -> dict:
        """The slot's colour map, invert, interpolation and slab (mode, mm): what a control panel shows."""
        s = self._slots[slot]
        return {"colormap": s.colormap, "invert": s.invert, "interpolation": s.interpolation, "slab": s.slab}

    def _push_display(self, slot: int) -> None:
        s = self._slots[slot]
        for view in s.views.values():
            view.set_display(s.window, s.colormap, s.invert)
            view.set_interpolation(s.interpolation)
            view.set_slab(*s.slab)

    def set_hide_identity(self, hide: bool) -> None:
        """Hide patient name and ID in every view (for screenshots and teaching)."""
        self.hide_identity = hide
        for s in self._slots:
            for view in s.views.values():
                view.set_hide_identity(hide)
        self._render_2d()

    def set_crosshair_visible(self, visible: bool) -> None:
        for s in self._slots:
            for view in s.views.values():
                view.set_crosshair_visible(visible)
        self._render_2d()

    def set_annotations_visible(self, visible: bool) -> None:
        """Corner text, orientation letters and scale bars on or off in every slice view."""
        for s in self._slots:
            for view in s.views.values():
                view.set_annotations_visible(visible)
        self._render_2d()

    def set_links(self, position: bool | None = None, zoom: bool | None = None, window: bool | None = None) -> None:
        """Which of position, zoom/pan and window follow between the two series."""
        for key, value in (("position", position), ("zoom", zoom), ("window", window)):
            if value is not None:
                self.links[key] = value
        self.controlsChanged.emit()

    # -- cine --------------------------------------------------------------------------------
    def start_cine(self, view_name: str | None = None, fps: float = 10.0) -> None:
        """Play through the slices of a view (the active one by default), looping."""
        self._cine_view = view_name or (self.active_view if self.active_view in VIEW_NAMES else "axial")
        self._cine.start(max(1, int(1000 / fps)))
        self.controlsChanged.emit()

    def stop_cine(self) -> None:
        self._cine.stop()
        self.controlsChanged.emit()

    @property
    def cine_running(self) -> bool:
        return self._cine.isActive()

    def _cine_step(self) -> None:
        view = self._slots[0].views[self._cine_view]
        n, count = view.slice_number()
        self.step_slice(self._cine_view, 1 if n < count else 1 - count)

    # -- measurements -----------------------------------------------------------------------------
    def set_tool(self, kind: str | None) -> None:
        """Measurement tool for left clicks: 'ruler', 'angle', 'ellipse', 'rectangle'; None for window/level."""
        self.tool = kind
        for s in self._slots:
            for view in s.views.values():
                view.set_tool(kind)
        self.controlsChanged.emit()

    def measurements(self, slot: int = 0) -> list[mm.Measurement]:
        return list(self._slots[slot].measurements)

    def set_measurements(self, measurements: list[mm.Measurement], slot: int = 0) -> None:
        """Replace the slot's measurements (e.g. restored from the library)."""
        self._slots[slot].measurements = list(measurements)
        self._push_measurements(slot)
        self._render_2d([slot])
        self.measurementsChanged.emit()

    def add_measurement(self, m: mm.Measurement, slot: int = 0) -> None:
        """Add a measurement, or replace the one with the same uid (an edit)."""
        s = self._slots[slot]
        s.measurements = [x for x in s.measurements if x.uid != m.uid] + [m]
        s.selected = m.uid
        self.set_measurements(s.measurements, slot)

    def delete_measurement(self, uid: str) -> None:
        for slot, s in enumerate(self._slots):
            if any(m.uid == uid for m in s.measurements):
                s.selected = None if s.selected == uid else s.selected
                self.set_measurements([m for m in s.measurements if m.uid != uid], slot)

    def select_measurement(self, uid: str | None, slot: int = 0) -> None:
        self._slots[slot].selected = uid
        self._push_measurements(slot)
        self._render_2d([slot])

    def measurement_values(self, m: mm.Measurement, slot: int = 0) -> dict[str, tuple[float, str]]:
        """Name -> (value, unit) of a measurement on the slot's volume (length, angle, area, mean, ...)."""
        return mm.values(m, self._slots[slot].volume)

    def _push_measurements(self, slot: int) -> None:
        s = self._slots[slot]
        for view in s.views.values():
            view.set_measurements(s.measurements, s.selected)

    # -- rendering and capture ---------------------------------------------------------------------
    def render_all(self) -> None:
        """Render every view on screen, the 3D ones included."""
        if self._closed:
            return
        self._pending.clear()
        self._render_timer.stop()
        for view in self.visible_views():
            view.render()

    def _render_2d(self, slots: list[int] | None = None) -> None:
        """Render the slice views of ``slots`` (all by default) at the next turn of the event loop.

        Only slice views: crosshair, window and measurement changes do not touch
        the 3D scene, whose software rendering costs seconds. Deferred and merged:
        several wheel events (or a step that moves the crosshair of all views)
        arriving in one turn give one render per view, not one per event.
        """
        if self._closed:
            return
        self._pending.update(range(len(self._slots)) if slots is None else slots)
        if not self._render_timer.isActive():
            self._render_timer.start()

    def flush(self) -> None:
        """Render now the slice views waiting for the deferred render (tests and benchmarks call it too)."""
        self._render_timer.stop()
        pending, self._pending = self._pending, set()
        if self._closed:
            return
        names = [n for row in self._visible_names() for n in row if n != "3d"]
        for slot in sorted(pending):
            views = self._slots[slot].views
            for name in names if self._slots[slot].volume is not None else []:
                views[name].render()

    def grab_image(self) -> QImage:
        """The whole layout as an image: each VTK view captured from its back buffer, placed where it is on screen."""
        image = QImage(self.size(), QImage.Format.Format_RGB888)
        image.fill(Qt.GlobalColor.black)
        painter = QPainter(image)
        try:
            for view in self.visible_views():
                painter.drawImage(view.mapTo(self, QPoint(0, 0)), to_qimage(view.capture()))
        finally:
            painter.end()
        return image

    def close_views(self) -> None:
        """Release every render window (OpenGL contexts, X windows) and stop the cine and render timers."""
        self._cine.stop()
        self._render_timer.stop()
        for s in self._slots:
            for view in [*s.views.values(), *([s.volume_view] if s.volume_view else [])]:
                view.close_view()
        if self._help is not None:
            self._help.close()
        self._closed = True

    def closeEvent(self, ev) -> None:
        self.close_views()
        super().closeEvent(ev)

    def show_help(self) -> HelpPanel:
        if self._help is None:
            self._help = HelpPanel(self)
        self._help.show()
        self._help.raise_()
        return self._help

    # -- signals from the views --------------------------------------------------------------------
    def _make_view(self, name: str, slot: int) -> SliceView:
        view = SliceView(name, self._slots[slot].container)
        view.positionPicked.connect(lambda view_name, lps: self._picked(slot, view_name, lps))
        view.probed.connect(lambda probe: self.probe.emit({**probe, "slot": slot}))
        view.sliceStepped.connect(lambda view_name, n: self._stepped(slot, view_name, n))
        view.windowDragged.connect(lambda dc, dw: self._window_dragged(slot, dc, dw))
        view.crosshairRotated.connect(lambda view_name, deg: self.rotate_crosshair(view_name, deg, slot))
        view.cameraChanged.connect(lambda view_name: self._camera_changed(slot, view_name))
        view.measurementDrawn.connect(lambda m: self.add_measurement(m, slot))
        view.measurementSelected.connect(lambda uid: self.select_measurement(uid, slot))
        view.measurementDeleteRequested.connect(self.delete_measurement)
        view.doubleClicked.connect(self._toggle_maximise)
        view.keyCommand.connect(lambda key: self._key(slot, name, key))
        return view

    def _picked(self, slot: int, view_name: str, lps: np.ndarray) -> None:
        self.active_view = view_name
        self.set_position(lps, slot)

    def _stepped(self, slot: int, view_name: str, slices: int) -> None:
        self.active_view = view_name
        self.step_slice(view_name, slices, slot)

    def _window_dragged(self, slot: int, d_center: float, d_width: float) -> None:
        w = self._slots[slot].window.adjusted(d_center, d_width)
        self.set_window(w.center, w.width, slot)

    def _camera_changed(self, slot: int, view_name: str) -> None:
        if not self.links["zoom"]:
            return
        camera = self._slots[slot].views[view_name].camera2d
        for n in self._linked_slots(slot, "zoom")[1:]:
            self._slots[n].views[view_name].set_camera(camera)
            self._slots[n].views[view_name].render()

    def _toggle_maximise(self, view_name: str) -> None:
        self.maximise(None if self.maximised == view_name else view_name)

    def _key(self, slot: int, view_name: str, key: str) -> None:
        """Viewer-wide keys (see ``widgets.help_panel.SHORTCUTS``)."""
        self.active_view = view_name
        lower = key.lower()
        presets = self.preset_names(slot)
        if lower == "r":
            self.reset(slot)
        elif lower == "i":
            self.set_invert(not self._slots[slot].invert, slot)
        elif lower == "c":
            self.stop_cine() if self.cine_running else self.start_cine(view_name)
        elif lower in ("h", "f1"):
            self.show_help()
        elif key == "\x1b":
            self.set_tool(None)
        elif lower in TOOL_KEYS:
            self.set_tool(None if self.tool == TOOL_KEYS[lower] else TOOL_KEYS[lower])
        elif lower.isdigit() and 1 <= int(lower) <= len(presets):
            self.apply_preset(presets[int(lower) - 1], slot)
