"""One MPR view: a volume resliced on a plane (axial, coronal, sagittal or oblique), with its overlays and mouse.

The view is an adapter of one slot of the viewer model
(``workstation.viewer_model``): it draws that slot's image, crosshair,
window, camera and measurements as the model holds them (the viewer tells it
which part changed) and reports what the user did through signals, in LPS
mm. It holds no shown state of its own beyond what it derives for drawing
(the resliced plane and grid), so two series side by side and linked views
stay simple.

Drawing: the image and the overlays are apart. The image (the base layer's
slice through window and colour map, then each added image layer: fusion,
labels) is brought onto the view's screen pixels and kept as a frame (the
base image is resliced at the data's resolution and scaled to the pixels,
see ``widgets.reslice_layer``); it is rebuilt only when something it shows
changed (the slice, the window, the camera, a layer). Overlays (crosshair, letters, corner text,
scale bar, measurements, markers) are painted over that frame with QPainter
at every repaint, so a crosshair move or a probe line costs a blit and a
few lines of text. No OpenGL is involved: under software OpenGL an empty
frame alone cost more than a whole slice step does here.

Screen frame: the display plane's own (u, v) millimetres, u to the screen's
right and v down (``Plane.right``/``down``); pixel (x, y) is at
``pan + (x + 0.5 - width / 2, y + 0.5 - height / 2) * mm_per_pixel``.

Mouse: wheel = slice; left-drag = window/level, left click = move the
crosshair (and probe); shift-drag = move the crosshair; ctrl-drag = rotate
the crosshair axes (oblique MPR); right-drag = zoom; middle-drag = pan;
double-click = maximise. With a measurement tool: click or drag points;
dragging a handle edits; Delete removes the selected measurement.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

import numpy as np
from PySide6.QtCore import QEvent, QRect, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QRegion, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from widgets.fusion import rgb_of
from widgets.reslice_layer import ResliceLayer
from widgets.slice_overlays import CornerText, Crosshair, EdgeLabels, MeasurementLayer, ScaleBar
from workstation import measurements as mm
from workstation.geometry import Plane
from workstation.viewer_model.display import Camera2D, SliceGrid, SliceStack, display_plane
from workstation.viewer_model.model import Slot, ViewerModel
from workstation.volume import Volume

HANDLE_PIXELS = 7
"""How close (screen pixels) a press must be to a measurement point to grab it."""
CLICK_PIXELS = 3
"""A press and release closer than this is a click, not a drag."""
PAGE_SLICES = 10


class ImageLayer(Protocol):
    """An image-like layer drawn into a view's frame after the base image (fusion, labels).

    ``frame_key`` says what the layer's contribution depends on (re-slicing it
    if needed; None when it shows nothing): the frame is rebuilt only when a
    key changes. ``compose`` returns the frame's (rows, cols, 3) uint8 colours
    with the layer drawn in (it may draw into ``rgb`` in place); its grid is
    the view's screen grid (``layer.screen``). ``paint`` adds the layer's own
    overlays (markers) over the frame, in widget pixels.
    """

    def frame_key(self) -> Hashable: ...

    def compose(self, rgb: np.ndarray) -> np.ndarray: ...

    def paint(self, painter: QPainter) -> None: ...


class SliceCanvas(QWidget):
    """The widget a slice view paints into; its Qt input goes to the view."""

    def __init__(self, parent: QWidget, handler: SliceView) -> None:
        super().__init__(parent)
        self._handler = handler
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # the frame covers every pixel
        self.setMouseTracking(True)  # the pixel probe follows the mouse
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        # Share a layout's cells with the 3D view (VTK's widget expands too), not shrink to nothing beside it.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def paintEvent(self, ev: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._handler.paint(painter)
        finally:
            painter.end()
        self._handler.painted(ev.region())

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        self._handler.handle_press(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        self._handler.handle_release(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        self._handler.handle_move(ev)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:
        self._handler.doubleClicked.emit(self._handler.name)

    def wheelEvent(self, ev: QWheelEvent) -> None:
        self._handler.handle_wheel(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        self._handler.handle_key(ev)

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        ev.accept()

    def enterEvent(self, ev: QEvent) -> None:
        ev.accept()

    def leaveEvent(self, ev: QEvent) -> None:
        ev.accept()

    def resizeEvent(self, ev: QEvent) -> None:
        super().resizeEvent(ev)
        self._handler.refresh_camera()


class SliceView(QWidget):
    """A 2D MPR view of one volume; see the module docstring for the mouse."""

    positionPicked = Signal(str, object)      # view name, LPS point (click or shift-drag)
    probed = Signal(object)                   # dict: lps, ijk, value, units, view
    sliceStepped = Signal(str, int)           # view name, slices (+ = along the plane normal)
    windowDragged = Signal(float, float)      # change of centre, change of width
    crosshairRotated = Signal(str, float)     # view name, degrees clockwise on screen
    cameraChanged = Signal(str, object)       # view name, the new Camera2D (zoom or pan)
    measurementDrawn = Signal(object)         # a new or edited Measurement
    measurementSelected = Signal(object)      # uid or None
    measurementDeleteRequested = Signal(str)  # uid
    doubleClicked = Signal(str)               # view name
    keyCommand = Signal(str)                  # keys the view leaves to its owner, e.g. "r", "i", "F1"

    def __init__(self, name: str, model: ViewerModel, slot: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.model, self.slot_index = model, slot
        self.layer = ResliceLayer()
        self.layers: list[ImageLayer] = []        # image layers drawn over the base one, in order
        self.crosshair = Crosshair()
        self.edges = EdgeLabels()
        self.corners = CornerText()
        self.scale_bar = ScaleBar()
        self.measure_layer = MeasurementLayer()
        self._mm_per_pixel = 1.0
        self._frame: QImage | None = None         # the image layers composed, one pixel per screen pixel
        self._pixels: np.ndarray | None = None
        self._on_screen: tuple | None = None      # _screen_state() of the last paint on screen
        self._painting: tuple | None = None       # _screen_state() of what render() is repainting
        self._frame_key: tuple | None = None
        self.canvas = SliceCanvas(self, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

        # Derived for drawing from the model (never set from outside): the resliced plane, its grid and stack.
        # Read through the properties below: a crosshair move only marks them stale (``planes_moved``).
        self._plane: Plane | None = None          # through the crosshair
        self._shown: Plane | None = None          # what is resliced (anchored, on a slice)
        self._grid: SliceGrid | None = None
        self._stack: SliceStack | None = None
        self._planes_stale = False
        self._probe_line = ""
        self._text_stale = True
        self._drag: dict | None = None
        self._creating: dict | None = None
        self._closed = False

    # -- the model, as this view reads it ---------------------------------------------
    @property
    def slot(self) -> Slot:
        return self.model.slots[self.slot_index]

    @property
    def volume(self) -> Volume | None:
        return self.slot.volume

    @property
    def camera2d(self) -> Camera2D:
        return self.slot.cameras[self.name]

    @property
    def selected(self) -> str | None:
        return self.slot.measurements.selected

    @property
    def tool(self) -> str | None:
        return self.model.tool

    # -- drawing what changed in the model -------------------------------------------------
    def image_changed(self) -> None:
        """A new image in the slot: upload it (its shown time point) and place the slice."""
        if self.volume is None:
            return
        self.layer.set_volume(self.volume, self.slot.time_point)
        self._grid = None
        self.display_changed()
        self.planes_changed()
        self.overlays_changed()

    def voxels_changed(self) -> None:
        self.layer.volume_modified()
        self.measure_layer.forget()

    def planes_moved(self) -> None:
        """The crosshair or the oblique axes moved: place the planes when next read (``planes_changed``).

        Several wheel events in one event-loop turn then place each view's
        planes once, for the frame, not once per event.
        """
        self._planes_stale = True

    def planes_changed(self) -> None:
        """The crosshair or the oblique axes moved: reslice through the crosshair, draw the crosshair lines."""
        self._planes_stale = False
        if self.volume is None or self.slot.state is None:
            return
        plane = self.slot.state.plane(self.name)
        turned = self._plane is None or (self._plane.right, self._plane.down) != (plane.right, plane.down)
        regrid = turned or self._grid is None  # a plane that only moved keeps its stack and grid
        self._plane = plane
        if regrid:
            self._stack = SliceStack.of(self.volume, plane.normal)
        self._shown = display_plane(self.volume, plane, self._stack)
        if regrid:
            self._grid = SliceGrid.covering(self.volume, self._shown)
        self._update_overlays(measurements_too=True)
        self.refresh_camera()

    def display_changed(self) -> None:
        """Window, colour map, invert, interpolation, slab or time point."""
        s = self.slot
        if s.volume is None:
            return
        if self.layer.time_point != s.time_point:
            self.layer.set_volume(s.volume, s.time_point)
        self.layer.set_display(s.window, s.colormap, s.invert)
        self.layer.set_interpolation(s.interpolation)
        self.layer.set_slab(*s.slab)
        self._update_text()

    def overlays_changed(self) -> None:
        """Crosshair and annotation visibility (a clean image for teaching or checks)."""
        visible = self.model.annotations_visible
        self.corners.visible = self.edges.visible = self.scale_bar.enabled = visible
        self.scale_bar.update(self.mm_per_pixel(), self.canvas.width(), self.canvas.height())
        self._update_overlays()

    def tool_changed(self) -> None:
        self._creating = None
        self.canvas.setCursor(Qt.CursorShape.CrossCursor if self.tool else Qt.CursorShape.ArrowCursor)

    def measurements_changed(self) -> None:
        self._update_overlays(measurements_too=True)

    def text_changed(self) -> None:
        """What the corner text shows changed (the identity switch)."""
        self._update_text()

    # -- the planes, placed when read --------------------------------------------------
    def _settle(self) -> None:
        if self._planes_stale:
            self.planes_changed()

    @property
    def plane(self) -> Plane | None:
        self._settle()
        return self._plane

    @property
    def shown(self) -> Plane | None:
        self._settle()
        return self._shown

    @property
    def grid(self) -> SliceGrid | None:
        self._settle()
        return self._grid

    @property
    def stack(self) -> SliceStack | None:
        self._settle()
        return self._stack

    # -- queries -----------------------------------------------------------------
    def slice_number(self) -> tuple[int, int]:
        """(n, N): 1-based slice shown along this view's normal, of N."""
        return self.stack.index_of(np.asarray(self.shown.center)) + 1, self.stack.count

    def edge_labels(self) -> dict[str, str]:
        return self.shown.edge_labels()

    def annotation(self) -> dict[str, str]:
        """The corner texts as shown (keys lower_left, lower_right, upper_left, upper_right)."""
        self._refresh_text()
        return dict(self.corners.texts)

    def mm_per_pixel(self) -> float:
        self._settle()  # a turned plane has a new grid, hence a new fit
        return self._mm_per_pixel

    def display_to_world(self, x: float, y: float) -> np.ndarray:
        """LPS point on the shown slice under widget pixel (x, y) (Qt coordinates, top-left origin)."""
        u, v = self._display_to_plane(x, y)
        return self.shown.to_world(u, v)

    def world_to_display(self, lps: np.ndarray) -> tuple[float, float]:
        """Widget pixel (x, y) of an LPS point projected on the shown slice."""
        u, v, _ = self.shown.to_plane(lps)
        x, y = self.plane_to_display(np.array([[u, v]]))[0]
        return float(x), float(y)

    def plane_to_display(self, uv: np.ndarray) -> np.ndarray:
        """(n, 2) display-plane mm (u, v) -> (n, 2) widget pixels (x, y)."""
        pan, scale = np.asarray(self._pan()), self.mm_per_pixel()
        middle = np.array([self.canvas.width(), self.canvas.height()]) / 2 - 0.5
        return (np.asarray(uv, dtype=float) - pan) / scale + middle

    def visible_measurements(self) -> list[mm.Measurement]:
        """Measurements lying on the shown slice (same orientation, within half a slice)."""
        if self.shown is None:
            return []
        n = self.shown.normal
        out = []
        for m in self.slot.measurements.items:
            if abs(float(np.dot(m.plane.normal, n))) < 0.999:
                continue
            depth = np.abs((m.points - np.asarray(self.shown.center)) @ n)
            if np.all(depth < self.stack.step / 2):
                out.append(m)
        return out

    def probe_at(self, lps: np.ndarray) -> dict:
        """What the pixel probe reports at an LPS point (``Slot.probe``), and in which view."""
        return {"view": self.name, **self.slot.probe(lps)}

    # -- image layers ---------------------------------------------------------------
    def add_layer(self, layer: ImageLayer) -> None:
        """Draw one more image layer over the base image (and any added before it)."""
        self.layers.append(layer)

    def remove_layer(self, layer: ImageLayer) -> None:
        if layer in self.layers:
            self.layers.remove(layer)

    # -- drawing -----------------------------------------------------------------
    def prepare_frame(self) -> QImage | None:
        """The composed image of the layers, rebuilt only if a slice, the display or a layer changed."""
        if self.volume is None or self.shown is None or self.layer.display is None:
            return None
        self.layer.update()
        key = (self.layer.version, self.layer.display, self.grid,
               tuple(layer.frame_key() for layer in self.layers))
        if key != self._frame_key or self._frame is None:
            pixels = self.layer.pixels()  # 32-bit RGB, the screen's own format: a repaint blits it unconverted
            rgb = rgb_of(pixels)
            for layer in self.layers:
                composed = layer.compose(rgb)
                if composed is not rgb:
                    rgb[...] = composed
            self._outside_grid_black(pixels)
            rows, cols = pixels.shape
            self._pixels = pixels  # the QImage below reads this memory
            self._frame = QImage(pixels.data, cols, rows, 4 * cols, QImage.Format.Format_RGB32)
            self._frame_key = key
        return self._frame

    def footprint(self) -> tuple[slice, slice]:
        """(rows, columns) of the frame's pixels inside the slice's grid (the volume's footprint on the plane)."""
        screen = self.layer.screen
        origin, spacing, (cols, rows) = screen.origin, self.mm_per_pixel(), screen.size
        lo = np.asarray(self.grid.origin) - np.asarray(self.grid.spacing) / 2
        hi = lo + np.asarray(self.grid.size) * np.asarray(self.grid.spacing)
        (c0, r0), (c1, r1) = (np.clip(np.ceil((b - np.asarray(origin)) / spacing), 0, (cols, rows)).astype(int)
                              for b in (lo, hi))
        return slice(r0, r1), slice(c0, c1)

    def _outside_grid_black(self, pixels: np.ndarray) -> None:
        """Pixels beyond the slice's grid are black, whatever the colour map (as a viewer's empty space is)."""
        rows, cols = self.footprint()
        for outside in (np.s_[:rows.start], np.s_[rows.stop:], np.s_[:, :cols.start], np.s_[:, cols.stop:]):
            pixels[outside] = 0xFF000000

    def paint(self, painter: QPainter) -> None:
        """The frame, then the overlays over it (the canvas's paint event, and captures)."""
        w, h = self.canvas.width(), self.canvas.height()
        frame = self.prepare_frame()
        if frame is None or frame.width() != w or frame.height() != h:
            painter.fillRect(0, 0, w, h, Qt.GlobalColor.black)
        if frame is None:
            return
        painter.drawImage(0, 0, frame)
        self.crosshair.paint(painter, self.plane_to_display, w, h)
        self.measure_layer.paint(painter, self.plane_to_display)
        for layer in self.layers:
            layer.paint(painter)
        self.edges.paint(painter, w, h)
        self.scale_bar.paint(painter, w, h)
        self._refresh_text()
        self.corners.paint(painter, w, h)

    def render(self) -> None:
        """Draw the view now (a deferred render of the viewer ends here): only the pixels that changed.

        A wheel step in one view moves a crosshair line in the others while
        their image stays: they repaint two strips of pixels, not the frame.
        """
        if self._closed or self.volume is None:
            return
        self.prepare_frame()  # also for a view off screen: captures and layers read its frame
        state = self._screen_state()  # worked out once: what the screen shows when this repaint is done
        region = self._changed_region(state)
        if region is not None and region.isEmpty():
            return
        self._painting = state
        try:
            if region is None:
                self.canvas.repaint()
            else:
                self.canvas.repaint(region)
        finally:
            self._painting = None

    def _screen_state(self) -> tuple:
        """What a paint shows: the parts a partial repaint can follow (crosshair, corner text) and the rest."""
        self._refresh_text()
        w, h = self.canvas.width(), self.canvas.height()
        rest = (self._frame_key, w, h, self._mm_per_pixel, self._pan(), self.measure_layer.version,
                tuple(self.edges.labels.items()), self.edges.visible, self.corners.visible,
                self.scale_bar.enabled, self.scale_bar.length_mm)
        # Each line as its direction and its offset from the widget's origin (where along it the crosshair point
        # sits does not change its pixels), rounded: the same line recomputed differs in the 13th digit.
        lines = {name: (round(dx, 6), round(dy, 6), round(dx * y - dy * x, 4))
                 for name, (x, y, dx, dy) in self.crosshair.segments(self.plane_to_display).items()}
        return rest, lines, dict(self.corners.texts)

    def _changed_region(self, state: tuple) -> QRegion | None:
        """The pixels that differ from the last paint on screen (``state`` is what is to be shown); None when that
        is not known (repaint all)."""
        before = self._on_screen
        if before is None or self.layers or self.shown is None:  # added layers paint markers of their own
            return None
        rest, lines, texts = state
        if rest != before[0]:
            return None
        w, h = self.canvas.width(), self.canvas.height()
        region = QRegion()
        moved = [line[name] for name in {*lines, *before[1]} if lines.get(name) != before[1].get(name)
                 for line in (lines, before[1]) if name in line]
        for dx, dy, offset in moved:  # each line that moved, where it was and where it is
            if dx == 0:
                region += QRect(math.floor(-offset / dy) - 1, 0, 3, h)
            elif dy == 0:
                region += QRect(0, math.floor(offset / dx) - 1, w, 3)
            else:
                return None  # an oblique line crosses most of the view
        for corner, text in texts.items():
            if text != before[2][corner]:
                for shown in (text, before[2][corner]):
                    region += self.corners.bounds(corner, shown, w, h).toAlignedRect()
        return region

    def painted(self, region: QRegion) -> None:
        """The canvas painted ``region``: remember what the screen shows, or forget it after a foreign partial
        paint (an expose of part of the view while the state had changed would leave the rest unknown)."""
        if self._painting is not None:
            self._on_screen = self._painting
        else:
            self._on_screen = self._screen_state() if region.contains(self.canvas.rect()) else None

    def capture(self) -> np.ndarray:
        """The frame as drawn on screen, overlays included, as (h, w, 3) uint8."""
        if self.canvas.width() == 0 or self.canvas.height() == 0:
            return np.zeros((self.canvas.height(), self.canvas.width(), 3), np.uint8)
        image = QImage(self.canvas.size(), QImage.Format.Format_RGB32)
        painter = QPainter(image)
        try:
            self.paint(painter)
        finally:
            painter.end()
        h, w = image.height(), image.width()
        bgra = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, :4 * w]
        return np.ascontiguousarray(bgra.reshape(h, w, 4)[:, :, 2::-1])

    def close_view(self) -> None:
        """Stop drawing; the view is unusable afterwards (nothing of the GPU or the X server to release)."""
        if not self._closed:
            self._closed = True
            self._frame = None
            self.canvas.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def closeEvent(self, ev: QEvent) -> None:  # noqa: N802 - Qt's name
        self.close_view()
        super().closeEvent(ev)

    # -- camera ------------------------------------------------------------------
    def _pan(self) -> tuple[float, float]:
        if self.camera2d.pan is not None:
            return self.camera2d.pan
        return self.grid.middle if self.grid is not None else (0.0, 0.0)

    def refresh_camera(self) -> None:
        """Place the camera from zoom and pan: zoom 1 fits the whole slice in the view."""
        if self.grid is None:
            return
        w, h = max(self.canvas.width(), 1), max(self.canvas.height(), 1)
        half_u, half_v = self.grid.half_extent
        fit = max(half_v, half_u * h / w) * 1.02
        self._mm_per_pixel = 2.0 * fit / self.camera2d.zoom / h
        pu, pv = self._pan()
        s = self._mm_per_pixel
        screen = SliceGrid((pu + (0.5 - w / 2) * s, pv + (0.5 - h / 2) * s), (s, s), (w, h))
        self.layer.set_plane(self.shown, screen, self.grid, self.stack.step)
        self.scale_bar.update(self.mm_per_pixel(), w, h)
        self._update_text()

    def _display_to_plane(self, x: float, y: float) -> tuple[float, float]:
        pan, scale = self._pan(), self.mm_per_pixel()
        return (pan[0] + (x + 0.5 - self.canvas.width() / 2) * scale,
                pan[1] + (y + 0.5 - self.canvas.height() / 2) * scale)

    # -- overlays ---------------------------------------------------------------------
    def _update_overlays(self, measurements_too: bool = False) -> None:
        if self.shown is None:
            return
        point = self.shown.to_plane(self.plane.center)[:2]
        state = self.slot.state
        self.crosshair.update(point, state.crosshair_directions(self.name), self.model.crosshair_visible)
        self.edges.update(self.shown)
        if measurements_too:
            self._draw_measurements()
        self._update_text()

    def _draw_measurements(self, preview: mm.Measurement | None = None) -> None:
        shown = self.visible_measurements() + ([preview] if preview is not None else [])
        self.measure_layer.update(shown, self.shown, self.volume, self.selected)

    def _update_text(self) -> None:
        """The corner text is out of date; it is worked out once, when next painted or read."""
        self._text_stale = True

    def _refresh_text(self) -> None:
        if not self._text_stale or self.volume is None or self.shown is None:
            return
        self._text_stale = False
        meta = self.volume.meta
        n, count = self.slice_number()
        axis = int(np.argmax(np.abs(self.shown.normal)))
        identity = [] if self.model.hide_identity else [meta.patient_name, meta.patient_id]
        self.corners.set("upper_left", [*identity, meta.study_date, meta.extra.get("study_description", "")])
        title = ("Oblique " if self.slot.state.oblique else "") + self.name.capitalize()
        series = f"Se {meta.series_number}" if meta.series_number is not None else ""
        self.corners.set("upper_right", [title, meta.description, " ".join(x for x in (meta.modality, series) if x)])
        position = float(np.asarray(self.shown.center)[axis])
        timepoints = self.volume.timepoints
        time = f"Time {self.slot.time_point + 1}/{timepoints}" if timepoints > 1 else ""
        self.corners.set("lower_left", [f"Slice {n}/{count}", f"{'xyz'[axis]} {position:.2f} mm", time,
                                        self._probe_line])
        zoom = self.grid.spacing[0] / self.mm_per_pixel() * 100 if self.grid else 100
        slab = ""
        if self.layer.slab_slices() > 1:
            slab = f"{self.layer.slab_mode.upper()} {self.layer.slab_slices() * self.stack.step:.1f} mm"
        window = self.slot.window
        self.corners.set("lower_right", [slab, f"W {window.width:.0f} L {window.center:.0f}",
                                         f"Zoom {zoom:.0f}%"])

    def _set_probe_text(self, probe: dict) -> None:
        x, y, z = probe["lps"]
        if probe["ijk"] is None:
            self._probe_line = f"({x:.1f}, {y:.1f}, {z:.1f}) mm"
        else:
            i, j, k = probe["ijk"]
            value = self.volume.meta.value_text(probe["value"])
            self._probe_line = f"({x:.1f}, {y:.1f}, {z:.1f}) mm [{i}, {j}, {k}] = {value}"
        self._update_text()

    # -- mouse and keys ------------------------------------------------------------------
    def _hit_handle(self, x: float, y: float) -> tuple[mm.Measurement, int] | None:
        for m in reversed(self.visible_measurements()):
            for index, point in enumerate(m.points):
                px, py = self.world_to_display(point)
                if math.hypot(px - x, py - y) <= HANDLE_PIXELS:
                    return m, index
        return None

    def handle_press(self, ev: QMouseEvent) -> None:
        if self.volume is None or self.shown is None:
            return
        self.canvas.setFocus()
        x, y = ev.position().x(), ev.position().y()
        lps = self.display_to_world(x, y)
        button, mods = ev.button(), ev.modifiers()
        drag = {"start": (x, y), "last": (x, y), "moved": False}
        if button == Qt.MouseButton.LeftButton:
            hit = None if self._creating else self._hit_handle(x, y)
            if hit is not None:
                drag.update(mode="edit", measurement=hit[0], index=hit[1])
                self.measurementSelected.emit(hit[0].uid)
            elif self.tool is not None:
                drag.update(mode="create")
                self._place_point(lps)
            elif mods & Qt.KeyboardModifier.ShiftModifier:
                drag.update(mode="crosshair")
                self.positionPicked.emit(self.name, lps)
            elif mods & Qt.KeyboardModifier.ControlModifier:
                drag.update(mode="rotate")
            else:
                drag.update(mode="window")
        elif button == Qt.MouseButton.RightButton:
            drag.update(mode="zoom")
        elif button == Qt.MouseButton.MiddleButton:
            drag.update(mode="pan")
        else:
            return
        self._drag = drag

    def handle_move(self, ev: QMouseEvent) -> None:
        if self.volume is None or self.shown is None:
            return
        x, y = ev.position().x(), ev.position().y()
        lps = self.display_to_world(x, y)
        if self._creating is not None:
            self._preview_creation(lps)
        drag = self._drag
        if drag is None:
            probe = self.probe_at(lps)
            self._set_probe_text(probe)
            self.probed.emit(probe)
            self.render()
            return
        lx, ly = drag["last"]
        dx, dy = x - lx, y - ly
        drag["last"] = (x, y)
        sx, sy = drag["start"]
        drag["moved"] = drag["moved"] or math.hypot(x - sx, y - sy) > CLICK_PIXELS
        mode = drag["mode"]
        if mode == "window":
            per_pixel = max(self.slot.window.width, 1.0) / 250.0
            self.windowDragged.emit(dy * per_pixel, dx * per_pixel)
        elif mode == "crosshair":
            self.positionPicked.emit(self.name, lps)
        elif mode == "rotate":
            self.crosshairRotated.emit(self.name, self._screen_angle_change(lx, ly, x, y))
        elif mode == "zoom":
            self.cameraChanged.emit(self.name, self.camera2d.zoomed(1.01 ** (-dy)))
        elif mode == "pan":
            pu, pv = self._pan()
            scale = self.mm_per_pixel()
            self.cameraChanged.emit(self.name, Camera2D(self.camera2d.zoom, (pu - dx * scale, pv - dy * scale)))
        elif mode == "edit":
            drag["measurement"] = drag["measurement"].moved_point(drag["index"], lps)
            self._draw_measurements(preview=drag["measurement"])
            self.render()

    def handle_release(self, ev: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            return
        x, y = ev.position().x(), ev.position().y()
        lps = self.display_to_world(x, y)
        mode = drag["mode"]
        if mode == "window" and not drag["moved"]:
            self.positionPicked.emit(self.name, lps)
            probe = self.probe_at(lps)
            self._set_probe_text(probe)
            self.probed.emit(probe)
        elif mode == "edit" and drag["moved"]:
            self.measurementDrawn.emit(drag["measurement"].moved_point(drag["index"], lps))
        elif mode == "create" and drag["moved"] and self._creating is not None:
            self._place_point(lps)

    def _screen_angle_change(self, x0: float, y0: float, x1: float, y1: float) -> float:
        cx, cy = self.world_to_display(np.asarray(self.plane.center))
        before, after = math.atan2(y0 - cy, x0 - cx), math.atan2(y1 - cy, x1 - cx)
        return math.degrees((after - before + math.pi) % (2 * math.pi) - math.pi)

    def _place_point(self, lps: np.ndarray) -> None:
        """Fix the next point of the measurement being drawn; the last one completes it."""
        if self._creating is None:
            count = mm.POINT_COUNT[self.tool]
            self._creating = {"points": [lps] * count, "placed": 1}
        else:
            self._creating["points"][self._creating["placed"]] = lps
            self._creating["placed"] += 1
        points, placed = self._creating["points"], self._creating["placed"]
        if placed >= len(points):
            self._creating = None
            series = self.volume.meta.series_uid
            self.measurementDrawn.emit(mm.Measurement(self.tool, np.array(points), self.shown, series))
        else:
            self._preview_creation(lps)

    def _preview_creation(self, lps: np.ndarray) -> None:
        points, placed = self._creating["points"], self._creating["placed"]
        for n in range(placed, len(points)):
            points[n] = lps
        self._draw_measurements(preview=mm.Measurement(self.tool, np.array(points), self.shown, uid="preview"))
        self.render()

    def handle_wheel(self, ev: QWheelEvent) -> None:
        steps = int(round(ev.angleDelta().y() / 120)) or (1 if ev.angleDelta().y() > 0 else -1)
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.cameraChanged.emit(self.name, self.camera2d.zoomed(1.1 ** steps))
        else:
            self.sliceStepped.emit(self.name, steps)

    def handle_key(self, ev: QKeyEvent) -> None:
        key = ev.key()
        steps = {Qt.Key.Key_Up: 1, Qt.Key.Key_Down: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Left: -1,
                 Qt.Key.Key_PageUp: PAGE_SLICES, Qt.Key.Key_PageDown: -PAGE_SLICES}.get(key)
        if steps is not None:
            self.sliceStepped.emit(self.name, steps)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected:
            self.measurementDeleteRequested.emit(self.selected)
        elif key == Qt.Key.Key_Escape and (self._creating is not None or self.selected):
            self._creating = None
            self.measurementSelected.emit(None)
        elif key == Qt.Key.Key_F1:
            self.keyCommand.emit("F1")
        elif ev.text():
            self.keyCommand.emit(ev.text())
