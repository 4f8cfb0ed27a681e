"""Markers of landmark pairs in a slice view; the pairs are the model's ``LandmarksLayer``.

A fixed landmark is drawn where it is, a moving one where the shown
transform puts it in fixed space.
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from widgets.slice_overlays import line_actor, polyline_data

FIXED_COLOUR = (0.2, 1.0, 0.2)
MOVING_COLOUR = (1.0, 0.3, 1.0)
MARKER_PIXELS = 9


class LandmarkMarkers:
    """Fixed (green) and moving (magenta) landmarks lying on a view's shown slice, drawn as points."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self.actors = []
        for colour in (FIXED_COLOUR, MOVING_COLOUR):
            actor = line_actor(colour)
            actor.GetProperty().SetPointSize(MARKER_PIXELS)
            actor.GetProperty().RenderPointsAsSpheresOn()
            renderer.AddActor(actor)
            self.actors.append(actor)
        self.points: tuple[np.ndarray, np.ndarray] = (np.empty((0, 3)), np.empty((0, 3)))

    def set_points(self, fixed: np.ndarray, moving_in_fixed: np.ndarray) -> None:
        self.points = (np.asarray(fixed).reshape(-1, 3), np.asarray(moving_in_fixed).reshape(-1, 3))

    def update(self, plane, half_depth_mm: float) -> None:
        """Show the points within ``half_depth_mm`` of ``plane`` (the view's shown slice), in plane mm."""
        for actor, points in zip(self.actors, self.points, strict=True):
            rel = points - np.asarray(plane.center)
            near = np.abs(rel @ plane.normal) <= half_depth_mm
            uv = np.stack([rel[near] @ np.asarray(plane.right), rel[near] @ np.asarray(plane.down)], axis=1)
            actor.GetMapper().SetInputData(polyline_data([], vertices=uv))
            actor.SetVisibility(bool(near.any()))

    def remove(self) -> None:
        for actor in self.actors:
            self.renderer.RemoveActor(actor)
