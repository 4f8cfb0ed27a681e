"""Landmark pairs for a point-based (``landmark-rigid``) registration, and their markers in a slice view.

Why pairs are kept in their own frames: a fixed landmark is an LPS point of
the fixed image, a moving one an LPS point of the moving image. The user
clicks both on the fused fixed views; a click meant for the moving image is
taken through the transform shown at that moment (fixed point -> moving
point), so what is stored does not change when the transform later does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from vtkmodules.vtkRenderingCore import vtkRenderer

from widgets.slice_overlays import line_actor, polyline_data

FIXED_COLOUR = (0.2, 1.0, 0.2)
MOVING_COLOUR = (1.0, 0.3, 1.0)
MARKER_PIXELS = 9


@dataclass
class LandmarkPairs:
    """Fixed and moving landmarks placed in turn: fixed, moving, fixed, moving, ..."""

    fixed: list[np.ndarray] = field(default_factory=list)
    moving: list[np.ndarray] = field(default_factory=list)

    @property
    def next_is_fixed(self) -> bool:
        return len(self.fixed) <= len(self.moving)

    def place(self, fixed_point: np.ndarray, matrix: np.ndarray) -> str:
        """Store a click (fixed-space LPS) as the next landmark; returns 'fixed' or 'moving'.

        A moving landmark is stored in the moving image's frame: the click
        mapped through ``matrix`` (fixed point -> moving point), the
        transform the moving image was shown through when it was clicked.
        """
        p = np.asarray(fixed_point, dtype=np.float64).reshape(3)
        if self.next_is_fixed:
            self.fixed.append(p)
            return "fixed"
        self.moving.append(matrix[:3, :3] @ p + matrix[:3, 3])
        return "moving"

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) fixed and (n, 3) moving points of the complete pairs."""
        n = len(self.moving)
        return np.array(self.fixed[:n]).reshape(-1, 3), np.array(self.moving[:n]).reshape(-1, 3)

    def clear(self) -> None:
        self.fixed.clear()
        self.moving.clear()

    def moving_in_fixed(self, matrix: np.ndarray) -> np.ndarray:
        """The moving landmarks where the transform ``matrix`` shows them in fixed space."""
        moving = np.array(self.moving).reshape(-1, 3)
        return (moving - matrix[:3, 3]) @ np.linalg.inv(matrix[:3, :3]).T


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
