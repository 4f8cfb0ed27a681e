"""The labels layer in the MPR views: each segment filled in its colour with an outline, and the brush's input.

``SliceLabels`` is one of a ``SliceView``'s image layers (``ImageLayer``): a
nearest-neighbour reslice of the label map on exactly the plane and screen
grid of the view's own image (``reslice_layer.follow_plane``, so it follows
the slice, the oblique axes and the slab's centre without the view knowing),
whose numbers become colours through two lookup tables, one for the fill
(segment colour, segment opacity times layer opacity, nothing when hidden)
and one for the outline (the pixels whose 4-neighbours hold another number,
opaque), blended into the view's frame. The frame is recomposed only when
the resliced slice, the colours or the threshold preview changed: a brush
stroke re-runs the reslice of the views whose slice crosses the changed box
and of no other (the label map's VTK image is never marked modified as a
whole, which would re-slice every view). The brush circle is painted over
the frame with QPainter.

``ViewerLabels`` draws the labels layer of every slot of the viewer model
(``workstation.viewer_model.layers.LabelsLayer``) in its slice views and
turns left-button input on their canvases into segmentation gestures when a
tool is on: ``stroke(view name, LPS point, phase)`` for the brush (press,
move, release) and ``seedPicked(view name, LPS point)`` for tools that take
a click; the app changes the label map. It draws the brush as a circle of
its radius in mm around the pointer.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPen
from vtkmodules.vtkCommonDataModel import vtkImageData

from widgets.reslice_layer import follow_plane, plane_reslice, resliced
from widgets.slice_overlays import qcolor
from widgets.slice_view import SliceView
from widgets.viewer import Viewer
from widgets.vtk_bridge import volume_image
from workstation.labels import LabelMap
from workstation.viewer_model.display import VIEW_NAMES
from workstation.viewer_model.layers import LabelsLayer

BRUSH_TOOLS = ("paint", "erase")
CLICK_TOOLS = ("grow",)
BRUSH_COLOUR = (1.0, 1.0, 0.3)
PREVIEW_ALPHA = 160
"""How opaque the threshold preview is drawn (of 255): stronger than a segment's fill, so it reads as a preview."""


def colour_tables(labels: LabelMap, opacity: float, visible: bool) -> tuple[np.ndarray, np.ndarray]:
    """(fill, outline) RGBA lookup tables indexed by segment number: what each number is drawn as."""
    size = int(max([labels.array.dtype.type(0), *[s.number for s in labels.segments]])) + 1
    fill, outline = np.zeros((size, 4), np.uint8), np.zeros((size, 4), np.uint8)
    if visible:
        for s in labels.segments:
            if s.visible:
                fill[s.number] = (*s.colour, round(255 * s.opacity * opacity))
                outline[s.number] = (*s.colour, 255)
    return fill, outline


def outline_pixels(numbers: np.ndarray) -> np.ndarray:
    """The labelled pixels of a 2D slice with a 4-neighbour of another number (or on the slice's edge)."""
    edge = np.zeros(numbers.shape, bool)
    edge[0, :] = edge[-1, :] = True
    edge[:, 0] = edge[:, -1] = True
    down = numbers[1:, :] != numbers[:-1, :]
    right = numbers[:, 1:] != numbers[:, :-1]
    edge[1:, :] |= down
    edge[:-1, :] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    return edge & (numbers != 0)


def colourise(numbers: np.ndarray, fill: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """RGBA (rows, cols, 4) of a resliced slice of segment numbers: fill everywhere, outline on the edges.

    The tables are looked up as one 32-bit word per colour (a third of the
    time of four bytes); a number without a segment shows as the last one.
    """
    fill32, outline32 = fill.view(np.uint32).ravel(), outline.view(np.uint32).ravel()
    rgba = np.take(fill32, numbers, mode="clip")
    edge = outline_pixels(numbers)
    rgba[edge] = np.take(outline32, numbers[edge], mode="clip")
    return rgba.view(np.uint8).reshape(*numbers.shape, 4)


def labelled_box(numbers: np.ndarray) -> tuple[slice, slice] | None:
    """The smallest (rows, cols) box holding every labelled pixel of a slice; None when it has none.

    Colouring and blending only this box gives the same pixels as the whole
    slice (its labelled pixels on the box's edge have unlabelled neighbours
    beyond it, so they are outline either way) at the cost of the labels, not
    of the frame: a stroke's frame must stay within a 60 Hz frame.
    """
    rows = np.flatnonzero(numbers.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(numbers[rows[0]:rows[-1] + 1].any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def blend(rgb: np.ndarray, rgba: np.ndarray) -> None:
    """Draw ``rgba`` (rows, cols, 4) over ``rgb`` (rows, cols, 3) in place, in integer arithmetic (alpha 0: as is)."""
    alpha = rgba[..., 3:].astype(np.uint16)
    rgb[...] = (rgba[..., :3] * alpha + rgb * (255 - alpha) + 127) // 255


class SliceLabels:
    """One label map on one slice view, as one of its image layers; see the module docstring."""

    def __init__(self, view: SliceView) -> None:
        self.view = view
        self.reslice = plane_reslice()
        self.reslice.SetInterpolationModeToNearestNeighbor()
        self.reslice.SetBackgroundLevel(0.0)
        self.layer: LabelsLayer | None = None
        self.preview: tuple[float, float, tuple[int, int, int]] | None = None  # threshold range and colour
        self.brush: tuple[np.ndarray, float] | None = None  # LPS centre and radius in mm of the brush circle
        self.label_image: vtkImageData | None = None
        self._tables: tuple[np.ndarray, np.ndarray] | None = None
        self._colours = 0  # counts colour changes: part of the frame key

    def set_layer(self, layer: LabelsLayer | None) -> None:
        """Draw ``layer`` (None: nothing, and out of the view's layers); a new map goes to VTK without a copy."""
        if layer is not None and (self.layer is None or layer.labels.volume is not self.layer.labels.volume):
            self.label_image = volume_image(layer.labels.volume)
            self.reslice.SetInputData(self.label_image)
        self.layer = layer
        self.view.remove_layer(self)
        if layer is None:
            self.label_image = None
        else:
            self.view.add_layer(self)  # last: over fusion, whose composite replaces the colours beneath it
        self.colours_changed()

    def colours_changed(self) -> None:
        """Segments, colours, opacity or visibility changed: recolour when the view next builds its frame."""
        self._tables = None if self.layer is None else colour_tables(self.layer.labels, self.layer.opacity,
                                                                     self.layer.visible)
        self._colours += 1

    def voxels_changed(self) -> None:
        """The map's voxels changed in place on this view's slice: its reslice runs again for the next frame."""
        self.reslice.Modified()

    def crosses(self, region: tuple[slice, slice, slice] | None) -> bool:
        """Whether the shown slice passes through a (k, j, i) box of the map (None: anywhere)."""
        if region is None or self.layer is None or self.view.shown is None:
            return True
        k, j, i = region
        corners = np.array([[a, b, c] for a in (i.start - 0.5, i.stop - 0.5) for b in (j.start - 0.5, j.stop - 0.5)
                            for c in (k.start - 0.5, k.stop - 0.5)])
        world = self.layer.labels.volume.index_to_world(corners)
        depth = (world - np.asarray(self.view.shown.center)) @ np.asarray(self.view.shown.normal)
        return bool(depth.min() <= 0.0 <= depth.max())

    # -- ImageLayer: drawn into the view's frame ---------------------------------------------------
    def frame_key(self) -> tuple | None:
        """The resliced slice (re-sliced here if the plane moved or a stroke crossed it), colours and preview."""
        if self.layer is None or self.view.shown is None or (not self.layer.visible and self.preview is None):
            return None
        follow_plane(self.reslice, self.view.layer)  # one slice: the slab's centre
        self.reslice.Update()
        return self.reslice.GetOutput().GetMTime(), self._colours, self.preview

    def compose(self, rgb: np.ndarray) -> np.ndarray:
        """Blend fill, outline and the threshold preview into the frame's colours, in place."""
        if self.frame_key() is None:
            return rgb
        numbers = resliced(self.reslice)
        box = (slice(None), slice(None)) if self.preview is not None else labelled_box(numbers)
        if box is None:
            return rgb
        rgba = colourise(numbers[box], *self._tables)
        if self.preview is not None:
            lower, upper, colour = self.preview
            values = self.view.layer.values()  # the image as the view shows it, on the same pixels
            rgba[(values >= lower) & (values <= upper)] = (*colour, PREVIEW_ALPHA)
        blend(rgb[box], rgba)
        return rgb

    def paint(self, painter: QPainter) -> None:
        """The brush circle over the frame, in widget pixels."""
        if self.brush is None or self.view.shown is None:
            return
        lps, radius_mm = self.brush
        x, y = self.view.world_to_display(lps)  # the pixel's centre is at (x + 0.5, y + 0.5) for QPainter
        radius = radius_mm / self.view.mm_per_pixel()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(qcolor(BRUSH_COLOUR), 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawEllipse(QPointF(x + 0.5, y + 0.5), radius, radius)
        painter.restore()

    def set_preview(self, preview: tuple[float, float, tuple[int, int, int]] | None) -> None:
        self.preview = preview

    def show_brush(self, lps: np.ndarray | None, radius_mm: float) -> None:
        """The brush as a circle of ``radius_mm`` around an LPS point on the shown slice (None hides it)."""
        self.brush = None if lps is None else (np.asarray(lps, dtype=float), float(radius_mm))

    def detach(self) -> None:
        self.view.remove_layer(self)


class ViewerLabels(QObject):
    """Draws the model's labels layers in the slice views and reports the segmentation tools' gestures.

    Tools (``set_tool``): None (the views' own mouse), 'paint' and 'erase'
    (left drag: ``stroke``), 'grow' (left click: ``seedPicked``). Wheel,
    right and middle buttons and modified clicks keep their usual meaning.
    """

    stroke = Signal(str, object, str)   # view name, LPS point, 'press' | 'move' | 'release'
    seedPicked = Signal(str, object)    # view name, LPS point
    rendered = Signal()                 # the views a labels change touched were drawn

    def __init__(self, viewer: Viewer) -> None:
        super().__init__(viewer)
        self.viewer = viewer
        self.tool: str | None = None
        self.radius_mm = 5.0
        self.layers: dict[tuple[int, str], SliceLabels] = {}
        self._shown: dict[int, LabelsLayer | None] = {}
        self._painting = False
        self._preview: tuple[float, float, tuple[int, int, int]] | None = None
        self._painted_in: SliceView | None = None
        self._later: set[SliceView] = set()
        self._later_timer = QTimer(self, singleShot=True, interval=0)
        self._later_timer.timeout.connect(self.flush)
        for n, slot in enumerate(viewer.model.slots):
            # After every other subscriber (lower priority): the views exist, and a layer another one adds to
            # them in the same change (fusion, whose composite replaces the colours beneath it) goes under ours.
            slot.layers.connect(lambda n=n: self._layers_changed(n), priority=-1)
            slot.image.connect(lambda n=n: self._layers_changed(n), priority=-1)
            self._layers_changed(n)

    def set_tool(self, tool: str | None, radius_mm: float | None = None) -> None:
        if tool not in (None, *BRUSH_TOOLS, *CLICK_TOOLS):
            raise ValueError(f"unknown segmentation tool {tool!r}")
        self.tool = tool
        if radius_mm is not None:
            self.radius_mm = float(radius_mm)
        cursor = Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.ArrowCursor
        for drawn in self.layers.values():
            drawn.view.canvas.setCursor(cursor)
            if tool not in BRUSH_TOOLS and drawn.brush is not None:
                drawn.show_brush(None, 0.0)
                drawn.view.render()

    def set_preview(self, lower: float | None, upper: float | None = None,
                    colour: tuple[int, int, int] = (255, 255, 0)) -> None:
        """Show the image's pixels within [lower, upper] live on every slice drawn (None: no preview)."""
        preview = self._preview = None if lower is None else (float(lower), float(upper), tuple(colour))
        for drawn in self.layers.values():
            drawn.set_preview(preview)
        for slot in range(len(self.viewer.model.slots)):
            self._render(slot)

    def _views(self, slot: int) -> list[SliceView]:
        if self.viewer.model.volume(slot) is None:
            return []
        return [self.viewer.slice_view(name, slot) for name in VIEW_NAMES]

    def _layers_changed(self, slot: int) -> None:
        """The slot's labels layer was set, replaced or removed (or its image, and with it the views)."""
        layer = self.viewer.model.slot(slot).labels
        old = self._shown.get(slot)
        if old is not None and old is not layer:
            old.changed.disconnect(self._redraw)
            old.voxels.disconnect(self._voxels)
        if layer is not None and layer is not old:
            layer.changed.connect(self._redraw)
            layer.voxels.connect(self._voxels)
        self._shown[slot] = layer
        for name in VIEW_NAMES:
            drawn = self.layers.get((slot, name))
            views = self._views(slot)
            view = next((v for v in views if v.name == name), None)
            if drawn is not None and drawn.view is not view:
                drawn.detach()
                del self.layers[(slot, name)]
                drawn = None
            if drawn is None and view is not None:
                drawn = self.layers[(slot, name)] = SliceLabels(view)
                drawn.set_preview(self._preview)
                view.canvas.installEventFilter(self)
            if drawn is not None:
                drawn.set_layer(layer)
        self._render(slot)

    def _redraw(self) -> None:
        for slot in range(len(self.viewer.model.slots)):
            for name in VIEW_NAMES:
                drawn = self.layers.get((slot, name))
                if drawn is not None:
                    drawn.colours_changed()
            self._render(slot)

    def _voxels(self, region: tuple[slice, slice, slice] | None) -> None:
        """Voxels changed in ``region`` (None: anywhere): redraw the views whose slice crosses it.

        The view being painted in is drawn now (the stroke's own frame); the
        others at the next turn of the event loop, merged over the moves of
        one turn, so a stroke costs one frame per move where the user looks.
        """
        for slot in range(len(self.viewer.model.slots)):
            crossed = [d for (s, _), d in self.layers.items() if s == slot and d.layer is self._shown.get(slot)
                       and d.layer is not None and d.crosses(region)]
            for drawn in crossed:
                drawn.voxels_changed()
            views = [d.view for d in crossed]
            self._render(slot, [v for v in views if v is self._painted_in])
            self._later.update(v for v in views if v is not self._painted_in)
        if self._later and not self._later_timer.isActive():
            self._later_timer.start()

    def flush(self) -> None:
        """Render now the views a labels change left for the next turn of the event loop (tests call it too)."""
        self._later_timer.stop()
        views, self._later = self._later, set()
        shown = set(self.viewer.visible_views())
        for view in views:
            if view in shown:
                view.render()

    def _render(self, slot: int, views: list[SliceView] | None = None) -> None:
        shown = set(self.viewer.visible_views())
        for view in self._views(slot) if views is None else views:
            if view in shown:
                view.render()
        self.rendered.emit()

    # -- the tools' input ------------------------------------------------------------------------
    def _drawn_of(self, canvas: QObject) -> SliceLabels | None:
        return next((d for d in self.layers.values() if d.view.canvas is canvas), None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if self.tool is None:
            return False
        drawn = self._drawn_of(watched)
        if drawn is None or drawn.view.shown is None or drawn.layer is None:
            return False
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease):
            if kind == QEvent.Type.Leave:
                drawn.show_brush(None, 0.0)
                drawn.view.render()
            return False
        return self._mouse(drawn, event)

    def _mouse(self, drawn: SliceLabels, event: QMouseEvent) -> bool:
        view, kind = drawn.view, event.type()
        lps = view.display_to_world(event.position().x(), event.position().y())
        plain_left = event.button() == Qt.MouseButton.LeftButton and not event.modifiers()
        if kind == QEvent.Type.MouseButtonPress:
            if not plain_left:
                return False
            view.canvas.setFocus()
            if self.tool in CLICK_TOOLS:
                self.seedPicked.emit(view.name, lps)
                return True
            self._painting, self._painted_in = True, view
            drawn.show_brush(lps, self.radius_mm)
            self.stroke.emit(view.name, lps, "press")
            return True
        if kind == QEvent.Type.MouseMove:
            if self.tool in BRUSH_TOOLS:
                drawn.show_brush(lps, self.radius_mm)
            if self._painting:
                self.stroke.emit(view.name, lps, "move")
                return True
            return False  # the view probes and renders, brush circle included
        if self._painting and event.button() == Qt.MouseButton.LeftButton:
            self._painting, self._painted_in = False, None
            self.stroke.emit(view.name, lps, "release")
            return True
        return False
