"""What a slice view draws over the image: crosshair, orientation letters, corner text, scale bar, measurements.

Why apart from the view: these are plain VTK props fed from the view state;
keeping them here leaves ``slice_view`` with input handling and the pipeline.
2D views use plane coordinates as their world frame (x = screen right in mm,
y = screen down in mm, z towards the far side), so overlays need no LPS maths
beyond ``Plane.to_plane``.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingAnnotation import vtkCornerAnnotation
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from workstation.geometry import Plane
from workstation.measurements import Measurement, describe
from workstation.viewer_model.display import nice_length
from workstation.volume import Volume

VIEW_COLORS = {"axial": (0.95, 0.35, 0.35), "coronal": (0.35, 0.85, 0.35), "sagittal": (0.95, 0.85, 0.25)}
"""Slicer's colours: each view's crosshair line in the other views has the colour of its view."""
MEASURE_COLOR = (0.3, 0.85, 1.0)
SELECTED_COLOR = (1.0, 0.85, 0.2)
OVERLAY_Z = -1.0
"""Overlays sit 1 mm in front of the image plane (the camera looks along +z)."""


def polyline_data(polylines: list[np.ndarray], z: float = OVERLAY_Z, vertices: np.ndarray | None = None) -> vtkPolyData:
    """Polydata of 2D polylines (each (n, 2)) and optional vertex points, at depth ``z``."""
    points, lines, verts = vtkPoints(), vtkCellArray(), vtkCellArray()
    for line in polylines:
        ids = [points.InsertNextPoint(float(u), float(v), z) for u, v in line]
        lines.InsertNextCell(len(ids), ids)
    for u, v in ([] if vertices is None else vertices):
        verts.InsertNextCell(1, [points.InsertNextPoint(float(u), float(v), z)])
    data = vtkPolyData()
    data.SetPoints(points)
    data.SetLines(lines)
    data.SetVerts(verts)
    return data


def line_actor(color: tuple[float, float, float], width: float = 1.0, opacity: float = 1.0) -> vtkActor:
    actor = vtkActor()
    actor.SetMapper(vtkPolyDataMapper())
    prop = actor.GetProperty()
    prop.SetColor(*color)
    prop.SetLineWidth(width)
    prop.SetPointSize(7)
    prop.SetOpacity(opacity)
    prop.LightingOff()
    actor.PickableOff()
    return actor


def text_actor(size: int = 14, color: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> vtkTextActor:
    actor = vtkTextActor()
    prop = actor.GetTextProperty()
    prop.SetFontSize(size)
    prop.SetColor(*color)
    prop.ShadowOn()
    return actor


class Crosshair:
    """The other views' planes as lines through the crosshair point, in their views' colours."""

    HALF_LENGTH = 5000.0

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actors = {name: line_actor(color, 1.0, 0.75) for name, color in VIEW_COLORS.items()}
        for actor in self.actors.values():
            renderer.AddActor(actor)
        self._drawn: tuple | None = None

    def update(self, point_uv: tuple[float, float], directions: dict[str, tuple[float, float]], visible: bool) -> None:
        """Move the lines; the same lines again upload nothing (most slice steps leave a view's lines alone)."""
        drawn = (tuple(map(float, point_uv)), dict(directions), visible)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        for name, actor in self.actors.items():
            direction = directions.get(name)
            actor.SetVisibility(visible and direction is not None)
            if direction is None:
                continue
            c, d = np.asarray(point_uv), np.asarray(direction) * self.HALF_LENGTH
            actor.GetMapper().SetInputData(polyline_data([np.array([c - d, c + d])]))


class EdgeLabels:
    """Orientation letters at the middle of each screen edge (from ``Plane.edge_labels``)."""

    POSITIONS = {"left": (0.01, 0.5, 0, 1), "right": (0.99, 0.5, 2, 1), "top": (0.5, 0.99, 1, 2),
                 "bottom": (0.5, 0.01, 1, 0)}

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actors: dict[str, vtkTextActor] = {}
        for edge, (x, y, h, v) in self.POSITIONS.items():
            actor = text_actor(18, (1.0, 0.9, 0.4))
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.SetPosition(x, y)
            prop = actor.GetTextProperty()
            prop.SetJustification(h)
            prop.SetVerticalJustification(v)
            prop.BoldOn()
            renderer.AddViewProp(actor)
            self.actors[edge] = actor

    def update(self, plane: Plane) -> dict[str, str]:
        labels = plane.edge_labels()
        for edge, actor in self.actors.items():
            actor.SetInput(labels[edge])
        return labels


class CornerText:
    """Four corners of annotation text; ``texts`` keeps what was set, for tests and screenshots."""

    CORNERS = {"lower_left": 0, "lower_right": 1, "upper_left": 2, "upper_right": 3}

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actor = vtkCornerAnnotation()
        self.actor.SetMaximumFontSize(14)
        self.actor.SetMinimumFontSize(10)
        self.actor.SetLinearFontScaleFactor(2)
        self.actor.SetNonlinearFontScaleFactor(1)
        self.actor.GetTextProperty().SetColor(0.9, 0.9, 0.9)
        self.actor.GetTextProperty().ShadowOn()
        renderer.AddViewProp(self.actor)
        self.texts = dict.fromkeys(self.CORNERS, "")

    def set(self, corner: str, lines: list[str]) -> None:
        text = "\n".join(line for line in lines if line)
        if text != self.texts[corner]:
            self.texts[corner] = text
            self.actor.SetText(self.CORNERS[corner], text)


class ScaleBar:
    """A vertical bar of a round length (1, 2 or 5 x 10^n mm) near the right edge, in display pixels."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.bar = vtkActor2D()
        self.bar.SetMapper(vtkPolyDataMapper2D())
        self.bar.GetProperty().SetColor(0.9, 0.9, 0.9)
        self.bar.GetProperty().SetLineWidth(2)
        self.label = text_actor(12)
        self.label.GetTextProperty().SetJustificationToRight()
        renderer.AddViewProp(self.bar)
        renderer.AddViewProp(self.label)
        self.length_mm = 0.0
        self.enabled = True
        self._drawn: tuple | None = None

    def update(self, mm_per_pixel: float, width_px: int, height_px: int) -> None:
        """Redraw for a zoom or a window size; the same ones again (every slice step) change nothing."""
        drawn = (mm_per_pixel, width_px, height_px, self.enabled)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        if not self.enabled or mm_per_pixel <= 0 or height_px < 40:
            self.bar.SetVisibility(False)
            self.label.SetVisibility(False)
            return
        self.length_mm = nice_length(0.2 * height_px * mm_per_pixel)
        pixels = self.length_mm / mm_per_pixel
        x, y0 = width_px - 24.0, 0.22 * height_px
        ticks = [np.array([[x - 6, y], [x, y]]) for y in (y0, y0 + pixels)]
        self.bar.GetMapper().SetInputData(polyline_data([np.array([[x, y0], [x, y0 + pixels]]), *ticks], z=0.0))
        label = f"{self.length_mm / 10:g} cm" if self.length_mm >= 10 else f"{self.length_mm:g} mm"
        self.label.SetInput(label)
        self.label.SetPosition(x - 8, y0 + pixels - 12)
        self.bar.SetVisibility(True)
        self.label.SetVisibility(True)


def _shape_outline(m: Measurement, uv: np.ndarray) -> list[np.ndarray]:
    if m.kind in ("ruler", "angle"):
        return [uv]
    (u0, v0), (u1, v1) = uv
    if m.kind == "rectangle":
        return [np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1], [u0, v0]])]
    t = np.linspace(0, 2 * np.pi, 73)
    cu, cv, a, b = (u0 + u1) / 2, (v0 + v1) / 2, abs(u1 - u0) / 2, abs(v1 - v0) / 2
    return [np.stack([cu + a * np.cos(t), cv + b * np.sin(t)], axis=1)]


class MeasurementLayer:
    """Draws the measurements lying on the displayed slice, with handles and a value label each."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.props: list = []

    def update(self, measurements: list[Measurement], plane: Plane, volume: Volume | None,
               selected: str | None) -> None:
        for prop in self.props:
            self.renderer.RemoveViewProp(prop)
        self.props = []
        for m in measurements:
            uv = np.array([plane.to_plane(p)[:2] for p in m.points])
            color = SELECTED_COLOR if m.uid == selected else MEASURE_COLOR
            shape = line_actor(color, 2.0)
            shape.GetMapper().SetInputData(polyline_data(_shape_outline(m, uv), vertices=uv))
            label = text_actor(13, color)
            label.SetInput(describe(m, volume))
            label.GetPositionCoordinate().SetCoordinateSystemToWorld()
            anchor = uv[np.argmax(uv[:, 0])]
            label.GetPositionCoordinate().SetValue(float(anchor[0]), float(anchor[1]), OVERLAY_Z)
            label.GetTextProperty().SetVerticalJustificationToCentered()
            for prop in (shape, label):
                self.renderer.AddViewProp(prop)
                self.props.append(prop)
