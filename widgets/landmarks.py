"""Markers of landmark pairs in a slice view; the pairs are the model's ``LandmarksLayer``.

A fixed landmark is drawn where it is, a moving one where the shown
transform puts it in fixed space.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainter

from widgets.slice_overlays import ToDisplay, qcolor

FIXED_COLOUR = (0.2, 1.0, 0.2)
MOVING_COLOUR = (1.0, 0.3, 1.0)
MARKER_PIXELS = 9


class LandmarkMarkers:
    """Fixed (green) and moving (magenta) landmarks lying on a view's shown slice, painted as dots."""

    def __init__(self) -> None:
        self.points: tuple[np.ndarray, np.ndarray] = (np.empty((0, 3)), np.empty((0, 3)))
        self.shown: list[np.ndarray] = [np.empty((0, 2)), np.empty((0, 2))]  # plane mm (u, v) of each kind

    def set_points(self, fixed: np.ndarray, moving_in_fixed: np.ndarray) -> None:
        self.points = (np.asarray(fixed).reshape(-1, 3), np.asarray(moving_in_fixed).reshape(-1, 3))

    def update(self, plane, half_depth_mm: float) -> None:
        """Keep the points within ``half_depth_mm`` of ``plane`` (the view's shown slice), in plane mm."""
        for n, points in enumerate(self.points):
            rel = points - np.asarray(plane.center)
            near = rel[np.abs(rel @ plane.normal) <= half_depth_mm]
            self.shown[n] = np.stack([near @ np.asarray(plane.right), near @ np.asarray(plane.down)], axis=1)

    def paint(self, painter: QPainter, to_display: ToDisplay) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        radius = MARKER_PIXELS / 2
        for colour, uv in zip((FIXED_COLOUR, MOVING_COLOUR), self.shown, strict=True):
            painter.setBrush(qcolor(colour))
            for x, y in to_display(uv) if len(uv) else []:
                painter.drawEllipse(QPointF(float(x), float(y)), radius, radius)
        painter.setBrush(Qt.BrushStyle.NoBrush)
