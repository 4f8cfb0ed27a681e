"""Benchmark: a brush stroke to its drawn frame on the cirs CT in the real window, peers in the same run.

Target (issue 16): a brush stroke to its drawn frame <= 16 ms on llvmpipe.
Measured in the axial view (1x3 layout, 1400 x 900 window) of the cirs CT
(512 x 512 x 283, 0.49 mm pixels) with a 5 mm disc brush: the time of one
mouse move while painting, from the event to the view's canvas repainted
(paint into the map, re-slice the labels onto the view's screen pixels,
recompose the view's frame, blit it with the overlays and the brush circle;
the views whose slice misses the stroke are not drawn). Peers, alternated
with it: an empty frame (a bare widget of the view's size filled and
repainted: the cost of any frame reaching the screen), the same frame again
with nothing changed (the floor of any change in that view), the view's
frame rebuilt with its labels re-sliced but the map unchanged (the stroke's
drawing without the painting), and a plain slice change (wheel step to its
drawn frames, the three views).

Run: ``WORKSTATION_SHARED_DATA=... .venv/bin/python -m pytest tests/bench/bench_brush.py -s -p no:cacheprovider``.
"""

from __future__ import annotations

import statistics
import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget

from tests.app.conftest import open_and_load, window  # noqa: F401 - the window fixture

pytestmark = pytest.mark.gui
MOVES = 40


class EmptyFrame(QWidget):
    """A widget painting nothing but black over its whole area: the floor of a frame on this display."""

    def __init__(self) -> None:
        super().__init__()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.paints = 0

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        self.paints += 1
        painter = QPainter(self)
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        painter.end()


def _ms(values: list[float]) -> str:
    p90 = sorted(values)[int(0.9 * len(values))]
    return f"median {statistics.median(values) * 1000:6.2f} ms, p90 {p90 * 1000:6.2f} ms"


def test_brush_stroke_to_frame(qtbot, window, cirs_ct):  # noqa: F811 - the fixture
    open_and_load(qtbot, window, cirs_ct)
    controller = window.segmentation
    controller.new_labels()
    controller.editor.radius.setValue(5.0)
    controller.editor.tool_buttons["paint"].click()
    view = window.viewer.slice_view("axial")
    drawn = controller.labels_view.layers[(0, "axial")]
    window.viewer.flush()
    empty_frame = EmptyFrame()
    qtbot.addWidget(empty_frame)
    empty_frame.resize(view.canvas.size())
    with qtbot.waitExposed(empty_frame):
        empty_frame.show()
    x0, y0 = view.canvas.width() // 2 - MOVES * 2, view.canvas.height() // 2
    QTest.mousePress(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y0))
    stroke, empty, same, redraw, step = [], [], [], [], []
    for n in range(MOVES):
        start = time.perf_counter()
        QTest.mouseMove(view.canvas, QPoint(x0 + 4 * n, y0 + (n % 3)))
        stroke.append(time.perf_counter() - start)
        controller.labels_view.flush()  # the other views the stroke crossed, outside the timings

        start = time.perf_counter()
        empty_frame.repaint()
        empty.append(time.perf_counter() - start)

        start = time.perf_counter()
        view.render()
        same.append(time.perf_counter() - start)

        start = time.perf_counter()
        drawn.voxels_changed()
        view.render()
        redraw.append(time.perf_counter() - start)

        start = time.perf_counter()
        window.model.step_slice("coronal", 1 if n % 2 else -1)
        window.viewer.flush()
        step.append(time.perf_counter() - start)
    QTest.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(x0 + 4 * MOVES, y0))
    assert controller.labels.array.any()
    assert empty_frame.paints >= MOVES, empty_frame.paints  # the peer did paint
    base = statistics.median(empty)
    print(f"\naxial view {view.canvas.width()} x {view.canvas.height()} pixels, {MOVES} moves")
    for label, values in (("brush stroke to drawn frame (axial, 5 mm disc)", stroke),
                          ("empty frame (bare widget, same size)", empty),
                          ("the same frame again (nothing changed)", same),
                          ("frame rebuilt, labels re-sliced, map unchanged", redraw),
                          ("plain slice change to drawn frames (3 views)", step)):
        print(f"{label:48s} {_ms(values)}  ({statistics.median(values) / base:5.2f} x empty frame)")
