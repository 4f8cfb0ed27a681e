"""Fusion in the MPR views: the moving volume resliced through the registration transform onto each fixed view.

``FusionLayer`` adds a second reslice to one ``SliceView``: it samples the
moving volume on exactly the plane and grid of the view's own (fixed) layer,
through a ``vtkTransform`` holding the LPS fixed->moving matrix. VTK applies
the reslice transform to the points the reslice axes produce, so a fixed
view's world point x is read from the moving volume at ``M @ x``: ITK's
convention, the very matrix a registration returns. Moving the moving image
while the optimiser works is therefore a 4x4 update, never a resampling of
the volume. The two slices are combined by ``widgets.fusion.composite`` into
an RGB image drawn instead of the fixed image in the view's frame.

The layer is one of the view's image layers (``SliceView.add_layer``): when
the view builds its frame it copies the fixed reslice's plane, grid, slab and
interpolation, and the frame is recomposed only when a slice, the transform
or a setting changed. Its landmark markers are painted over the frame.

The moving image's labels (``FusedLayer.labels``) are a ``SliceLabels`` of
the same view whose reslice holds the very same ``vtkTransform``: the same
plane and grid, nearest neighbour, filled and outlined like the fixed
image's labels, and moved by every 4x4 update of the transform (VTK
re-slices when the transform changed).

``ViewerFusion`` draws the fused and landmarks layers of the viewer model's
main slot (``workstation.viewer_model.layers``) in its three MPR views: it
subscribes to them and never holds their state. It turns the user's
Alt+keys and Alt+drags on those views into nudges of the moving image
(``nudged``) and, in landmark mode, clicks into landmark points
(``landmarkPicked``); the controller changes the model accordingly.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainter
from vtkmodules.vtkCommonCore import VTK_FLOAT
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonTransforms import vtkTransform

from widgets.fusion import Display, composite
from widgets.labels_layer import SliceLabels
from widgets.landmarks import LandmarkMarkers
from widgets.reslice_layer import follow_plane, plane_reslice, resliced
from widgets.slice_view import SliceView
from widgets.viewer import Viewer
from widgets.vtk_bridge import matrix4, volume_image
from workstation.geometry import rotation_matrix
from workstation.viewer_model.display import VIEW_NAMES
from workstation.viewer_model.layers import FusedLayer, LabelsLayer, LandmarksLayer

NUDGE_MM = 1.0
NUDGE_DEGREES = 1.0
_MODIFIER = Qt.KeyboardModifier.AltModifier


def translation(shift: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = shift
    return m


def rotation_about(axis: np.ndarray, degrees: float, centre: np.ndarray) -> np.ndarray:
    """4x4 rotation by ``degrees`` about ``axis`` through ``centre`` (LPS)."""
    m = np.eye(4)
    m[:3, :3] = rotation_matrix(axis, degrees)
    m[:3, 3] = np.asarray(centre) - m[:3, :3] @ np.asarray(centre)
    return m


class FusionLayer:
    """The moving volume on one slice view, composited with the view's fixed layer."""

    def __init__(self, view: SliceView) -> None:
        self.view = view
        self.reslice = plane_reslice()
        self.reslice.SetOutputScalarType(VTK_FLOAT)
        self.reslice.SetBackgroundLevel(float("nan"))  # "no moving data here": the fixed image shows alone
        self.transform = vtkTransform()
        self.reslice.SetResliceTransform(self.transform)
        self.markers = LandmarkMarkers()
        self.fused: FusedLayer | None = None
        self.moving_image: vtkImageData | None = None
        self.rgb: np.ndarray | None = None  # the last composite, (rows, cols, 3) uint8
        view.add_layer(self)
        self.labels = SliceLabels(view)  # the moving image's labels: over the composite, through our transform
        self.labels.reslice.SetResliceTransform(self.transform)

    @property
    def enabled(self) -> bool:
        return self.fused is not None

    def set_fused(self, fused: FusedLayer | None) -> None:
        """Draw the model's fused layer in the view (None: the fixed image alone again)."""
        if fused is not None and (self.fused is None or fused.volume is not self.fused.volume):
            self.moving_image = volume_image(fused.volume)
            self.reslice.SetInputData(self.moving_image)
        self.fused = fused
        if fused is None:
            self.moving_image = None
            self.labels.set_layer(None)
        else:
            self.matrix_changed()

    def matrix_changed(self) -> None:
        """The fused layer's fixed->moving LPS matrix (or its labels) changed: a 4x4 update of the transform."""
        self.transform.SetMatrix(matrix4(self.fused.matrix))
        if self.fused.shown_labels is not self.labels.layer:
            self.labels.set_layer(self.fused.shown_labels)

    def set_landmarks(self, fixed: np.ndarray, moving_in_fixed: np.ndarray) -> None:
        self.markers.set_points(fixed, moving_in_fixed)

    def _sync(self) -> None:
        """Reslice the moving volume exactly where the view's fixed layer reslices."""
        fixed = self.view.layer.reslice
        follow_plane(self.reslice, self.view.layer)
        self.reslice.SetSlabMode(fixed.GetSlabMode())
        self.reslice.SetSlabNumberOfSlices(fixed.GetSlabNumberOfSlices())
        self.reslice.SetInterpolationMode(fixed.GetInterpolationMode())

    def frame_key(self) -> tuple | None:
        """What the fused slice depends on besides the fixed one: re-sliced here if the moving side changed."""
        if self.fused is None or self.view.shown is None:
            return None
        self.markers.update(self.view.shown, self.view.stack.step / 2)
        self._sync()
        self.reslice.Update()
        return self.reslice.GetOutput().GetMTime(), self.fused.settings, self.fused.moving_window

    def compose(self, rgb: np.ndarray) -> np.ndarray:
        """The fixed and moving slices combined (the fixed image's colours alone when nothing is fused)."""
        if self.fused is None:
            return rgb
        origin, spacing = self.view.layer.screen.origin, self.view.layer.screen.spacing
        fixed = self.view.layer.values()
        moving = resliced(self.reslice)
        slot, settings = self.view.slot, self.fused.settings
        self.rgb = composite(fixed.astype(np.float32), moving, Display(slot.window, slot.colormap, slot.invert),
                             Display(self.fused.moving_window), settings, origin, spacing)
        return self.rgb

    def paint(self, painter: QPainter) -> None:
        if self.fused is not None:
            self.markers.paint(painter, self.view.plane_to_display)

    def refresh(self) -> None:
        """Compose the view's frame now (live updates spread the work of a round over event-loop turns)."""
        self.view.prepare_frame()

    def detach(self) -> None:
        self.set_fused(None)
        self.view.remove_layer(self)
        self.labels.detach()


def screen_angle(centre: tuple[float, float], x0: float, y0: float, x1: float, y1: float) -> float:
    """Degrees (clockwise on screen) swept by a drag from (x0, y0) to (x1, y1) around ``centre``."""
    before = math.atan2(y0 - centre[1], x0 - centre[0])
    after = math.atan2(y1 - centre[1], x1 - centre[0])
    return math.degrees((after - before + math.pi) % (2 * math.pi) - math.pi)


class ViewerFusion(QObject):
    """Draws the model's fused and landmarks layers (slot 0) in the three MPR views; nudges and landmark clicks.

    Keys (with Alt, in a slice view): arrows move the moving image 1 mm on
    screen, Page Up/Down 1 mm along the view normal, ``,`` and ``.`` turn it
    1 degree about the view normal through the crosshair. Mouse: Alt+left
    drag moves it, Alt+right drag turns it about the crosshair. In landmark
    mode a left click places a landmark at the clicked point.
    """

    nudged = Signal(object)          # 4x4 LPS motion of the shown moving image, in fixed space
    landmarkPicked = Signal(object)  # LPS point (fixed space) clicked in landmark mode

    def __init__(self, viewer: Viewer) -> None:
        super().__init__(viewer)
        self.viewer = viewer
        self.slot = viewer.model.slot(0)
        self.layers: dict[str, FusionLayer] = {}
        self.landmark_mode = False
        self.last_render_seconds = 0.0  # GUI time the last full round of view renders took
        self._queue: list[SliceView] = []
        self._scheduled = False
        self._round_seconds = 0.0
        self._drag: dict | None = None
        self._fused: FusedLayer | None = None
        self._labels: LabelsLayer | None = None  # the fused layer's labels drawn, whose colours we follow
        self._landmarks: LandmarksLayer | None = None
        self.slot.layers.connect(self._layers_changed)
        self.slot.image.connect(self._layers_changed)
        self._layers_changed()

    def _attach(self) -> None:
        for name in VIEW_NAMES:
            view = self.viewer.slice_view(name)
            if name in self.layers and self.layers[name].view is view:
                continue
            self.layers[name] = FusionLayer(view)
            view.canvas.installEventFilter(self)

    @property
    def active(self) -> bool:
        return any(layer.enabled for layer in self.layers.values())

    def _layers_changed(self) -> None:
        """The slot's fused or landmarks layer was added, replaced or removed: follow the new ones."""
        fused, landmarks = self.slot.fused, self.slot.landmarks
        if fused is not self._fused:
            if self._fused is not None:
                self._fused.changed.disconnect(self._fused_changed)
            if fused is not None:
                fused.changed.connect(self._fused_changed)
                self._attach()
            for layer in self.layers.values():
                layer.set_fused(fused)
            self._fused = fused
            self._follow_labels()
        if landmarks is not self._landmarks:
            if self._landmarks is not None:
                self._landmarks.changed.disconnect(self._draw_landmarks)
            if landmarks is not None:
                landmarks.changed.connect(self._draw_landmarks)
            self._landmarks = landmarks
        self._draw_landmarks(render=False)
        self.render()

    def _fused_changed(self, live: bool) -> None:
        for layer in self.layers.values():
            layer.matrix_changed()
        self._follow_labels()
        self._draw_landmarks(render=False)
        self.render(spread=live)

    def _follow_labels(self) -> None:
        """Redraw when the moving labels' segments, opacity or visibility change (the layer drawn now)."""
        labels = self._fused.shown_labels if self._fused is not None else None
        if labels is self._labels:
            return
        if self._labels is not None:
            self._labels.changed.disconnect(self._labels_changed)
        if labels is not None:
            labels.changed.connect(self._labels_changed)
        self._labels = labels

    def _labels_changed(self) -> None:
        for layer in self.layers.values():
            layer.labels.colours_changed()
        self.render()

    def _draw_landmarks(self, render: bool = True) -> None:
        """Markers for fixed landmarks and for moving ones (mapped into fixed space through the shown transform)."""
        landmarks, fused = self._landmarks, self._fused
        if landmarks is None or fused is None:
            fixed, moving = np.zeros((0, 3)), np.zeros((0, 3))
        else:
            fixed, moving = landmarks.fixed, landmarks.moving_in_fixed(fused.matrix)
        for layer in self.layers.values():
            layer.set_landmarks(fixed, moving)
        if render:
            self.render()

    def set_landmark_mode(self, on: bool) -> None:
        self.landmark_mode = on

    def render(self, spread: bool = False) -> None:
        """Render the slice views now, or (``spread``) in small steps one event-loop turn apart.

        A software-OpenGL frame of a view takes 10-50 ms and composing its
        fused slice a few more; doing all three views in one go would hold the
        event loop for all of it, so live updates during a run compose and
        draw each view in turns of their own and hand the loop back between.
        """
        views = [v for v in self.viewer.visible_views() if isinstance(v, SliceView)]
        self._round_seconds = 0.0
        if not spread:
            self._queue = []
            for view in views:
                view.render()
            return
        layers = {layer.view: layer for layer in self.layers.values()}
        self._queue = [step for v in views for step in ((layers[v].refresh if v in layers else None), v.render)
                       if step is not None]
        if not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self, self._render_next)

    def _render_next(self) -> None:
        self._scheduled = False
        if not self._queue:
            return
        step = self._queue.pop(0)
        started = time.perf_counter()
        step()  # a closed view's render does nothing
        self._round_seconds += time.perf_counter() - started
        if not self._queue:
            self.last_render_seconds = self._round_seconds
        elif not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self, self._render_next)

    # -- user input on the views ---------------------------------------------------------------
    def _view_of(self, canvas: QObject) -> SliceView | None:
        return next((layer.view for layer in self.layers.values() if layer.view.canvas is canvas), None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        view = self._view_of(watched)
        if view is None or view.shown is None or not self.active:
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress and event.modifiers() & _MODIFIER:
            return self._key(view, event)
        if kind == QEvent.Type.MouseButtonPress:
            return self._press(view, event)
        if kind == QEvent.Type.MouseMove and self._drag is not None:
            return self._move(view, event)
        if kind == QEvent.Type.MouseButtonRelease and self._drag is not None:
            self._drag = None
            return True
        return False

    def _key(self, view: SliceView, event: QKeyEvent) -> bool:
        plane, key = view.shown, event.key()
        right, down, normal = np.asarray(plane.right), np.asarray(plane.down), plane.normal
        shifts = {Qt.Key.Key_Left: -right, Qt.Key.Key_Right: right, Qt.Key.Key_Up: -down, Qt.Key.Key_Down: down,
                  Qt.Key.Key_PageUp: -normal, Qt.Key.Key_PageDown: normal}
        turns = {Qt.Key.Key_Comma: -NUDGE_DEGREES, Qt.Key.Key_Period: NUDGE_DEGREES}
        if key in shifts:
            self.nudged.emit(translation(shifts[key] * NUDGE_MM))
        elif key in turns:
            self.nudged.emit(rotation_about(normal, turns[key], np.asarray(view.plane.center)))
        else:
            return False
        return True

    def _press(self, view: SliceView, event: QMouseEvent) -> bool:
        x, y = event.position().x(), event.position().y()
        button = event.button()
        if event.modifiers() & _MODIFIER and button in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            view.canvas.setFocus()
            self._drag = {"view": view, "last": (x, y),
                          "mode": "move" if button == Qt.MouseButton.LeftButton else "turn"}
            return True
        if self.landmark_mode and button == Qt.MouseButton.LeftButton:
            view.canvas.setFocus()
            self.landmarkPicked.emit(view.display_to_world(x, y))
            return True
        return False

    def _move(self, view: SliceView, event: QMouseEvent) -> bool:
        drag = self._drag
        x, y = event.position().x(), event.position().y()
        (lx, ly), drag["last"] = drag["last"], (x, y)
        if drag["mode"] == "move":
            shift = view.display_to_world(x, y) - view.display_to_world(lx, ly)
            self.nudged.emit(translation(shift))
        else:
            centre = np.asarray(view.plane.center)
            degrees = screen_angle(view.world_to_display(centre), lx, ly, x, y)
            self.nudged.emit(rotation_about(view.shown.normal, degrees, centre))
        return True
