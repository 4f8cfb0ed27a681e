"""What a slice view paints over its image: crosshair, orientation letters, corner text, scale bar, measurements.

Why QPainter and not VTK props: the view's image is a cached frame (see
``widgets.slice_view``) and these overlays are a few lines and strings
painted over it in well under a millisecond. Moving the crosshair, the probe
text or a measurement handle then repaints them without re-slicing,
re-colouring or re-uploading the image; a software-OpenGL (llvmpipe) frame
costs about 6 ms before it draws anything, and its FreeType text textures
several more.

Each class keeps what it draws (set from the view state by ``update`` or
``set``) and paints it in widget pixels. Points in the display plane's
millimetres (u right, v down) reach the screen through ``ToDisplay``, the
view's own mapping, so overlays need no LPS maths beyond ``Plane.to_plane``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF, QStaticText

from workstation.geometry import Plane
from workstation.measurements import Measurement, describe
from workstation.viewer_model.display import nice_length
from workstation.volume import Volume

ToDisplay = Callable[[np.ndarray], np.ndarray]
"""(n, 2) plane mm (u, v) -> (n, 2) widget pixels (x, y)."""

VIEW_COLORS = {"axial": (0.95, 0.35, 0.35), "coronal": (0.35, 0.85, 0.35), "sagittal": (0.95, 0.85, 0.25)}
"""Slicer's colours: each view's crosshair line in the other views has the colour of its view."""
MEASURE_COLOR = (0.3, 0.85, 1.0)
SELECTED_COLOR = (1.0, 0.85, 0.2)
TEXT_COLOR = (0.9, 0.9, 0.9)
MARGIN = 5
SHADOW = QPointF(1, 1)


def qcolor(rgb: tuple[float, float, float], opacity: float = 1.0) -> QColor:
    return QColor.fromRgbF(*rgb, opacity)


@cache
def font(pixels: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(pixels)
    f.setBold(bold)
    return f


@cache
def line_height(pixels: int, bold: bool = False) -> float:
    return QFontMetricsF(font(pixels, bold)).height()


@lru_cache(maxsize=512)
def static_line(text: str, pixels: int, bold: bool = False) -> QStaticText:
    """One line laid out once: drawing a laid-out line costs a seventh of ``drawText`` (measured here)."""
    line = QStaticText(text)
    line.setTextFormat(Qt.TextFormat.PlainText)
    line.prepare(font=font(pixels, bold))
    return line


def text_layout(rect: QRectF, flags: Qt.AlignmentFlag, text: str, pixels: int,
                bold: bool = False) -> tuple[tuple[QPointF, QStaticText], ...]:
    """Where each line of ``text`` goes (top-left corners) when aligned in ``rect`` as ``flags`` say."""
    return _layout((rect.left(), rect.top(), rect.width(), rect.height()), flags.value, text, pixels, bold)


@lru_cache(maxsize=1024)
def _layout(rect: tuple[float, float, float, float], flags: int, text: str, pixels: int,
            bold: bool) -> tuple[tuple[QPointF, QStaticText], ...]:
    """``text_layout`` of plain values, kept: most paints show the texts of the paint before."""
    left, top, width, height = rect
    lines = [static_line(line, pixels, bold) for line in text.split("\n") if line]
    step = line_height(pixels, bold)
    if flags & Qt.AlignmentFlag.AlignBottom.value:
        first = top + height - step * len(lines)
    elif flags & Qt.AlignmentFlag.AlignVCenter.value:
        first = top + height / 2 - step * len(lines) / 2
    else:
        first = top
    places = []
    for n, line in enumerate(lines):
        size = line.size().width()
        if flags & Qt.AlignmentFlag.AlignRight.value:
            x = left + width - size
        elif flags & Qt.AlignmentFlag.AlignHCenter.value:
            x = left + width / 2 - size / 2
        else:
            x = left
        places.append((QPointF(x, first + n * step), line))
    return tuple(places)


def text_bounds(places: tuple[tuple[QPointF, QStaticText], ...]) -> QRectF:
    """The pixels a laid-out text covers, its shadow and a pixel of rounding included."""
    bounds = QRectF()
    for point, line in places:
        bounds = bounds.united(QRectF(point, line.size()))
    return bounds.adjusted(-1, -1, 2, 2) if places else bounds


def shadowed_text(painter: QPainter, rect: QRectF, flags: Qt.AlignmentFlag, text: str, color: QColor,
                  pixels: int, bold: bool = False) -> None:
    """Lines of text aligned in ``rect`` as ``flags`` say, with a one-pixel black shadow, readable on any grey."""
    places = text_layout(rect, flags, text, pixels, bold)
    painter.setFont(font(pixels, bold))
    painter.setPen(Qt.GlobalColor.black)
    for point, line in places:
        painter.drawStaticText(point + SHADOW, line)
    painter.setPen(color)
    for point, line in places:
        painter.drawStaticText(point, line)


def polyline(painter: QPainter, xy: np.ndarray) -> None:
    painter.drawPolyline(QPolygonF([QPointF(float(x), float(y)) for x, y in xy]))


class Crosshair:
    """The other views' planes as lines through the crosshair point, in their views' colours."""

    def __init__(self) -> None:
        self.lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # view name -> (point uv, direction uv) shown

    def update(self, point_uv: tuple[float, float], directions: dict[str, tuple[float, float]], visible: bool) -> None:
        point = np.asarray(point_uv, dtype=float)
        self.lines = {name: (point, np.asarray(d, dtype=float)) for name, d in directions.items()} if visible else {}

    def segments(self, to_display: ToDisplay) -> dict[str, tuple[float, float, float, float]]:
        """Each line as (x, y, dx, dy) in widget pixels: a point on it and its unit direction."""
        out = {}
        for name, (point, direction) in self.lines.items():
            (x, y), (dx, dy) = to_display(point[None])[0], direction / max(np.linalg.norm(direction), 1e-12)
            out[name] = (float(x), float(y), float(dx), float(dy))
        return out

    def paint(self, painter: QPainter, to_display: ToDisplay, width: int, height: int) -> None:
        """Each line across the widget, opaque: a translucent line costs Qt's rasteriser ten times as much."""
        reach = width + height
        for name, (x, y, dx, dy) in self.segments(to_display).items():
            painter.setPen(QPen(qcolor(VIEW_COLORS[name]), 1))
            painter.drawLine(QPointF(x - dx * reach, y - dy * reach), QPointF(x + dx * reach, y + dy * reach))


class EdgeLabels:
    """Orientation letters at the middle of each screen edge (from ``Plane.edge_labels``)."""

    ALIGN = {"left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
             "right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
             "top": Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
             "bottom": Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom}
    COLOR = (1.0, 0.9, 0.4)

    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self.visible = True
        self._axes: tuple | None = None  # (right, down) the labels are of

    def update(self, plane: Plane) -> dict[str, str]:
        """The letters of ``plane``'s axes (worked out again only when they turn, not at every slice step)."""
        if (plane.right, plane.down) != self._axes:
            self._axes = (plane.right, plane.down)
            self.labels = plane.edge_labels()
        return self.labels

    def paint(self, painter: QPainter, width: int, height: int) -> None:
        if not self.visible:
            return
        rect = QRectF(MARGIN, MARGIN, width - 2 * MARGIN, height - 2 * MARGIN)
        for edge, text in self.labels.items():
            shadowed_text(painter, rect, self.ALIGN[edge], text, qcolor(self.COLOR), 18, bold=True)


class CornerText:
    """Four corners of annotation text; ``texts`` keeps what is shown, for tests and screenshots."""

    ALIGN = {"lower_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
             "lower_right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
             "upper_left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
             "upper_right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop}

    def __init__(self) -> None:
        self.texts = dict.fromkeys(self.ALIGN, "")
        self.visible = True

    def set(self, corner: str, lines: list[str]) -> None:
        self.texts[corner] = "\n".join(line for line in lines if line)

    def bounds(self, corner: str, text: str, width: int, height: int) -> QRectF:
        """The pixels ``text`` covers when painted in ``corner``."""
        rect = QRectF(MARGIN, MARGIN, width - 2 * MARGIN, height - 2 * MARGIN)
        return text_bounds(text_layout(rect, self.ALIGN[corner], text, 13))

    def paint(self, painter: QPainter, width: int, height: int) -> None:
        if not self.visible:
            return
        rect = QRectF(MARGIN, MARGIN, width - 2 * MARGIN, height - 2 * MARGIN)
        for corner, text in self.texts.items():
            shadowed_text(painter, rect, self.ALIGN[corner], text, qcolor(TEXT_COLOR), 13)


class ScaleBar:
    """A vertical bar of a round length (1, 2 or 5 x 10^n mm) near the right edge, with its length."""

    def __init__(self) -> None:
        self.length_mm = 0.0
        self.enabled = True
        self._pixels = 0.0

    def update(self, mm_per_pixel: float, width_px: int, height_px: int) -> None:
        if not self.enabled or mm_per_pixel <= 0 or height_px < 40:
            self._pixels = 0.0
            return
        self.length_mm = nice_length(0.2 * height_px * mm_per_pixel)
        self._pixels = self.length_mm / mm_per_pixel

    def paint(self, painter: QPainter, width: int, height: int) -> None:
        if not self.enabled or self._pixels <= 0:
            return
        x, bottom = width - 24.0, 0.78 * height
        top = bottom - self._pixels
        painter.setPen(QPen(qcolor(TEXT_COLOR), 2))
        for line in ([x, bottom, x, top], [x - 6, bottom, x, bottom], [x - 6, top, x, top]):
            painter.drawLine(QPointF(line[0], line[1]), QPointF(line[2], line[3]))
        label = f"{self.length_mm / 10:g} cm" if self.length_mm >= 10 else f"{self.length_mm:g} mm"
        shadowed_text(painter, QRectF(0, top, x - 8, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                      label, qcolor(TEXT_COLOR), 12)


def _shape_outline(m: Measurement, uv: np.ndarray) -> np.ndarray:
    if m.kind in ("ruler", "angle"):
        return uv
    (u0, v0), (u1, v1) = uv
    if m.kind == "rectangle":
        return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1], [u0, v0]])
    t = np.linspace(0, 2 * np.pi, 73)
    cu, cv, a, b = (u0 + u1) / 2, (v0 + v1) / 2, abs(u1 - u0) / 2, abs(v1 - v0) / 2
    return np.stack([cu + a * np.cos(t), cv + b * np.sin(t)], axis=1)


class MeasurementLayer:
    """The measurements lying on the displayed slice, with handles and a value label each."""

    HANDLE = 7

    def __init__(self) -> None:
        self.drawn: list[tuple[np.ndarray, np.ndarray, str, tuple]] = []  # outline uv, points uv, label, colour
        self.version = 0  # counts the changes of ``drawn``
        self._key: tuple | None = None

    def forget(self) -> None:
        """The voxels changed in place (loading): the next update measures again."""
        self._key = None

    @property
    def labels(self) -> list[str]:
        return [label for _, _, label, _ in self.drawn]

    def update(self, measurements: list[Measurement], plane: Plane, volume: Volume | None,
               selected: str | None) -> None:
        """Lay out the measurements; the same ones again keep their labels (ROI statistics cost milliseconds)."""
        key = (tuple((m.uid, m.kind, m.label, m.points.tobytes()) for m in measurements), plane, id(volume), selected)
        if key == self._key:
            return
        self._key = key
        self.version += 1
        self.drawn = []
        for m in measurements:
            uv = np.array([plane.to_plane(p)[:2] for p in m.points])
            color = SELECTED_COLOR if m.uid == selected else MEASURE_COLOR
            self.drawn.append((_shape_outline(m, uv), uv, describe(m, volume), color))

    def paint(self, painter: QPainter, to_display: ToDisplay) -> None:
        half = self.HANDLE / 2
        for outline, points, label, color in self.drawn:
            painter.setPen(QPen(qcolor(color), 2))
            polyline(painter, to_display(outline))
            xy = to_display(points)
            for x, y in xy:
                painter.fillRect(QRectF(x - half, y - half, self.HANDLE, self.HANDLE), qcolor(color))
            x, y = xy[np.argmax(xy[:, 0])]
            shadowed_text(painter, QRectF(x + 4, y - 10, 2000, 20),
                          Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label, qcolor(color), 13)
