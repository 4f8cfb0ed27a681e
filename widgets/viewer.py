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

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget

from widgets.help_panel import HelpPanel
from widgets.slice_view import SliceView
from widgets.volume_view import VolumeView
from widgets.vtk_bridge import to_qimage
from workstation.viewer_model.display import VIEW_NAMES
from workstation.viewer_model.model import ViewerModel

LAYOUTS: dict[str, list[list[str]]] = {
    "1x1": [["active"]],
    "1x3": [["axial", "coronal", "sagittal"]],
    "2x2": [["axial", "coronal"], ["sagittal", "3d"]],
}
TOOL_KEYS = {"l": "ruler", "a": "angle", "e": "ellipse", "b": "rectangle"}


@dataclass
class _Slot:
    """The widgets of one slot: its container, grid and views (the state is the model's slot)."""

    container: QWidget
    grid: QGridLayout
    views: dict[str, SliceView] = field(default_factory=dict)
    volume_view: VolumeView | None = None


class Viewer(QWidget):
    """Layouts of linked MPR views and a 3D view drawing ``self.model``; see the module docstring."""

    # Qt mirrors of model changes, for Qt consumers (panels, tests waiting on signals).
    positionChanged = Signal(object)   # LPS np.ndarray of slot 0's crosshair
    probe = Signal(object)             # dict: lps, ijk, value, units, time_point, view, slot
    measurementsChanged = Signal()
    windowChanged = Signal(object)     # Window of slot 0
    controlsChanged = Signal()         # tool, display settings, cine or links changed (keys too): panels follow

    def __init__(self, parent: QWidget | None = None, model: ViewerModel | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.model = model or ViewerModel()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        self._slots: list[_Slot] = []
        for _ in self.model.slots:
            container = QWidget(self)
            grid = QGridLayout(container)
            grid.setContentsMargins(0, 0, 0, 0)
            grid.setSpacing(2)
            row.addWidget(container)
            container.hide()
            self._slots.append(_Slot(container, grid))
        self.layout_name = "2x2"
        self.maximised: str | None = None
        self.active_view = "axial"
        self._cine = QTimer(self)
        self._cine.timeout.connect(self._cine_step)
        self._cine_view = "axial"
        self._cine_over_time = False
        self._help: HelpPanel | None = None
        self._closed = False
        self._pending: set[int] = set()
        self._render_timer = QTimer(self, singleShot=True, interval=0)
        self._render_timer.timeout.connect(self.flush)
        self._subscribe()

    # -- drawing the model -----------------------------------------------------------------
    def _subscribe(self) -> None:
        m = self.model
        for n, s in enumerate(m.slots):
            s.image.connect(lambda n=n: self._image_changed(n))
            s.voxels.connect(lambda complete, n=n: self._voxels_changed(n, complete))
            s.planes.connect(lambda n=n: self._planes_changed(n))
            s.display.connect(lambda n=n: self._display_changed(n))
            s.camera.connect(lambda view, n=n: self._camera_changed(n, view))
            s.measurements.changed.connect(lambda n=n: self._measurements_changed(n))
        m.hide_identity_changed.connect(lambda _hide: self._each_view("text_changed"))
        m.overlays_changed.connect(lambda: self._each_view("overlays_changed"))
        m.tool_changed.connect(lambda _tool: (self._each_view("tool_changed", render=False),
                                              self.controlsChanged.emit()))
        m.links_changed.connect(self.controlsChanged.emit)

    def _slice_views(self, slot: int) -> list[SliceView]:
        return list(self._slots[slot].views.values())

    def _each_view(self, method: str, render: bool = True) -> None:
        for n in range(len(self._slots)):
            for view in self._slice_views(n):
                getattr(view, method)()
        if render:
            self._render_2d()

    def _image_changed(self, slot: int) -> None:
        s, volume = self._slots[slot], self.model.volume(slot)
        if volume is None:
            self._close_slot_views(slot)
            return
        if not s.views:
            s.views = {name: self._make_view(name, slot) for name in VIEW_NAMES}
        for view in s.views.values():
            view.image_changed()
            view.tool_changed()
        if s.volume_view is not None:
            s.volume_view.set_volume(volume, self.model.slot(slot).time_point)
        s.container.show()
        self._arrange()
        self.render_all()
        if slot == 0:
            self.positionChanged.emit(self.model.position())
            self.windowChanged.emit(self.model.window())

    def _voxels_changed(self, slot: int, complete: bool) -> None:
        """The slot's voxels changed in place (progressive loading): re-slice and render.

        The 3D view re-uploads its whole texture, so it follows only when ``complete``.
        """
        s = self._slots[slot]
        for view in s.views.values():
            view.voxels_changed()
        if complete and s.volume_view is not None:
            s.volume_view.volume_modified()
        if complete:
            self.render_all()
        else:
            self._render_2d([slot])

    def _planes_changed(self, slot: int) -> None:
        for view in self._slice_views(slot):
            view.planes_moved()  # placed for the deferred render (or when read before it)
        self._render_2d([slot])
        if slot == 0:
            self.positionChanged.emit(self.model.position())

    def _display_changed(self, slot: int) -> None:
        for view in self._slice_views(slot):
            view.display_changed()
        s = self._slots[slot]
        if s.volume_view is not None:
            s.volume_view.set_time_point(self.model.slot(slot).time_point)
            s.volume_view.render()
        self._render_2d([slot])
        if slot == 0:
            self.windowChanged.emit(self.model.window())
        self.controlsChanged.emit()

    def _camera_changed(self, slot: int, view_name: str) -> None:
        view = self._slots[slot].views.get(view_name)
        if view is not None:
            view.refresh_camera()
            self._render_2d([slot])

    def _measurements_changed(self, slot: int) -> None:
        for view in self._slice_views(slot):
            view.measurements_changed()
        self._render_2d([slot])
        self.measurementsChanged.emit()

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
            if self.model.volume(slot) is None:
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
        # Place the views now, not at the next turn of the event loop: a capture right after sees them sized.
        self.layout().activate()
        for s in self._slots:
            s.grid.activate()

    def _view_widget(self, slot: int, name: str) -> QWidget:
        s = self._slots[slot]
        if name != "3d":
            return s.views[name]
        if s.volume_view is None:
            s.volume_view = VolumeView(s.container)
            s.volume_view.doubleClicked.connect(self._toggle_maximise)
            s.volume_view.set_volume(self.model.volume(slot), self.model.slot(slot).time_point)
        return s.volume_view

    def visible_views(self) -> list[SliceView | VolumeView]:
        """Every view on screen, slot by slot."""
        out = []
        for slot in self.model.shown():
            out += [self._view_widget(slot, n) for row in self._visible_names() for n in row]
        return out

    def slice_view(self, name: str, slot: int = 0) -> SliceView:
        return self._slots[slot].views[name]

    def volume_view(self, slot: int = 0) -> VolumeView:
        """The slot's 3D view (created on first use)."""
        return self._view_widget(slot, "3d")

    def _close_slot_views(self, slot: int) -> None:
        """The slot shows nothing any more: its views are closed and released."""
        s = self._slots[slot]
        for view in [*s.views.values(), *([s.volume_view] if s.volume_view else [])]:
            view.close_view()
            view.deleteLater()
        s.views, s.volume_view = {}, None
        s.container.hide()

    # -- cine --------------------------------------------------------------------------------
    def start_cine(self, view_name: str | None = None, fps: float = 10.0, over_time: bool | None = None) -> None:
        """Play through the slices of a view (the active one by default), looping; a series with time points
        plays its time points instead (``over_time=False`` plays its slices)."""
        volume = self.model.volume()
        self._cine_over_time = (volume is not None and volume.timepoints > 1) if over_time is None else over_time
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
        s = self.model.slot(0)
        if self._cine_over_time:
            self.model.set_time_point((s.time_point + 1) % s.volume.timepoints)
            return
        n, count = s.slice_number(self._cine_view)
        self.model.step_slice(self._cine_view, 1 if n < count else 1 - count)

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
            for name in names if self.model.volume(slot) is not None else []:
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

    # -- what the user does in the views: changes of the model ---------------------------------
    def _make_view(self, name: str, slot: int) -> SliceView:
        m = self.model
        view = SliceView(name, m, slot, self._slots[slot].container)
        view.positionPicked.connect(lambda view_name, lps: self._picked(slot, view_name, lps))
        view.probed.connect(lambda probe: self.probe.emit({**probe, "slot": slot}))
        view.sliceStepped.connect(lambda view_name, n: self._stepped(slot, view_name, n))
        view.windowDragged.connect(lambda dc, dw: self._window_dragged(slot, dc, dw))
        view.crosshairRotated.connect(lambda view_name, deg: m.rotate_crosshair(view_name, deg, slot))
        view.cameraChanged.connect(lambda view_name, camera: m.set_camera(view_name, camera, slot))
        view.measurementDrawn.connect(lambda measurement: m.add_measurement(measurement, slot))
        view.measurementSelected.connect(lambda uid: m.select_measurement(uid, slot))
        view.measurementDeleteRequested.connect(m.delete_measurement)
        view.doubleClicked.connect(self._toggle_maximise)
        view.keyCommand.connect(lambda key: self._key(slot, name, key))
        return view

    def _picked(self, slot: int, view_name: str, lps) -> None:
        self.active_view = view_name
        self.model.set_position(lps, slot)

    def _stepped(self, slot: int, view_name: str, slices: int) -> None:
        self.active_view = view_name
        self.model.step_slice(view_name, slices, slot)

    def _window_dragged(self, slot: int, d_center: float, d_width: float) -> None:
        w = self.model.window(slot).adjusted(d_center, d_width)
        self.model.set_window(w.center, w.width, slot)

    def _toggle_maximise(self, view_name: str) -> None:
        self.maximise(None if self.maximised == view_name else view_name)

    def _key(self, slot: int, view_name: str, key: str) -> None:
        """Viewer-wide keys (see ``widgets.help_panel.SHORTCUTS``)."""
        m = self.model
        self.active_view = view_name
        lower = key.lower()
        presets = m.preset_names(slot)
        if lower == "r":
            m.reset(slot)
        elif lower == "i":
            m.set_invert(not m.slot(slot).invert, slot)
        elif lower == "c":
            self.stop_cine() if self.cine_running else self.start_cine(view_name)
        elif lower in ("h", "f1"):
            self.show_help()
        elif key == "\x1b":
            m.set_tool(None)
        elif lower in TOOL_KEYS:
            m.set_tool(None if m.tool == TOOL_KEYS[lower] else TOOL_KEYS[lower])
        elif lower.isdigit() and 1 <= int(lower) <= len(presets):
            m.apply_preset(presets[int(lower) - 1], slot)
