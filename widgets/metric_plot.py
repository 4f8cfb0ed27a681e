"""A small live plot of the registration metric, one coloured line per stage (search, level 0, level 1, ...).

Why QPainter and not a charting library: a few hundred points appended in
batches while the optimiser runs, redrawn at most a few times a second, is
a polyline per series; painting it costs nothing measurable and adds no
dependency.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

COLOURS = ("#9e9e9e", "#42a5f5", "#66bb6a", "#ffa726", "#ef5350", "#ab47bc", "#26c6da")
MARGIN = 6


class MetricPlot(QWidget):
    """Metric value against iteration count, per series; ``add(series, values)`` appends, ``clear()`` restarts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.count = 0

    def clear(self) -> None:
        self.series.clear()
        self.count = 0
        self.update()

    def add(self, series: str, values: list[float]) -> None:
        """Append values to a series; x is the running count over all series, so stages follow each other."""
        points = self.series.setdefault(series, [])
        for value in values:
            if math.isfinite(value):
                points.append((self.count, float(value)))
            self.count += 1
        self.update()

    def last(self, series: str) -> float | None:
        points = self.series.get(series)
        return points[-1][1] if points else None

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), QColor("#1e1e1e"))
            values = [v for points in self.series.values() for _, v in points]
            if not values:
                painter.setPen(QColor("#9e9e9e"))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "metric (lower is better)")
                return
            low, high = min(values), max(values)
            if high - low < 1e-12:
                low, high = low - 0.5, high + 0.5
            area = QRectF(self.rect()).adjusted(MARGIN, MARGIN + 14, -MARGIN, -MARGIN)
            span = max(self.count - 1, 1)

            def at(x: int, v: float) -> QPointF:
                return QPointF(area.left() + area.width() * x / span,
                               area.top() + area.height() * (high - v) / (high - low))

            for n, (name, points) in enumerate(self.series.items()):
                if not points:
                    continue
                colour = QColor(COLOURS[n % len(COLOURS)])
                path = QPainterPath(at(*points[0]))
                for x, v in points[1:]:
                    path.lineTo(at(x, v))
                painter.setPen(QPen(colour, 1.5))
                painter.drawPath(path)
                painter.drawText(QPointF(MARGIN + 90 * n, MARGIN + 10), f"{name} {points[-1][1]:.4f}")
        finally:
            painter.end()
