"""Benchmark: a brush stroke to its drawn frame on the cirs CT in the real window, peers in the same run.

Target (issue 16): a brush stroke to its drawn frame <= 16 ms on llvmpipe.
Measured in the axial view (1x3 layout, 1400 x 900 window) of the cirs CT
(512 x 512 x 283, 0.49 mm pixels) with a 5 mm disc brush: the time of one
mouse move while painting, from the event to the render window's Render()
returning (paint into the map, reslice and recolour the labels slice, draw
the frame; the views whose slice misses the stroke are not drawn). Peers,
alternated with it: a render of the same view with every prop hidden (the
empty scene: the cost of a frame itself), the same full frame again with
nothing changed (the floor of any change in that view), and a plain slice change (wheel
step to its drawn frames, the three views, without labels drawing).

Run: ``WORKSTATION_SHARED_DATA=... .venv/bin/python -m pytest tests/bench/bench_brush.py -s -p no:cacheprovider``.
"""

from __future__ import annotations

import statistics
import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.app.conftest import open_and_load, window  # noqa: F401 - the window fixture

pytestmark = pytest.mark.gui
MOVES = 40


def _ms(values: list[float]) -> str:
    p90 = sorted(values)[int(0.9 * len(values))]
    return f"median {statistics.median(values) * 1000:6.1f} ms, p90 {p90 * 1000:6.1f} ms"


def test_brush_stroke_to_frame(qtbot, window, cirs_ct):  # noqa: F811 - the fixture
    open_and_load(qtbot, window, cirs_ct)
    controller = window.segmentation
    controller.new_labels()
    controller.editor.radius.setValue(5.0)
    controller.editor.tool_buttons["paint"].click()
    view = window.viewer.slice_view("axial")
    window.viewer.flush()
    renderer = view.renderer
    x0, y0 = view.canvas.width() // 2 - MOVES * 2, view.canvas.height() // 2
    QTest.mousePress(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(x0, y0))
    stroke, empty, same, step = [], [], [], []
    for n in range(MOVES):
        start = time.perf_counter()
        QTest.mouseMove(view.canvas, QPoint(x0 + 4 * n, y0 + (n % 3)))
        stroke.append(time.perf_counter() - start)

        props = renderer.GetViewProps()
        shown = [props.GetItemAsObject(i) for i in range(props.GetNumberOfItems())]
        visible = [p.GetVisibility() for p in shown]
        for p in shown:
            p.SetVisibility(False)
        start = time.perf_counter()
        view.render_window.Render()
        empty.append(time.perf_counter() - start)
        for p, v in zip(shown, visible, strict=True):
            p.SetVisibility(v)

        start = time.perf_counter()
        view.render_window.Render()
        same.append(time.perf_counter() - start)

        start = time.perf_counter()
        window.model.step_slice("coronal", 1 if n % 2 else -1)
        window.viewer.flush()
        step.append(time.perf_counter() - start)
    QTest.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(x0 + 4 * MOVES, y0))
    assert controller.labels.array.any()
    base = statistics.median(empty)
    print(f"\naxial view {view.render_window.GetSize()[0]} x {view.render_window.GetSize()[1]} pixels, {MOVES} moves")
    print(f"brush stroke to drawn frame (axial, 5 mm disc): {_ms(stroke)}  "
          f"({statistics.median(stroke) / base:4.2f} x empty scene)")
    print(f"empty scene render (same view, props hidden):   {_ms(empty)}")
    print(f"the same frame again (nothing changed):         {_ms(same)}  "
          f"({statistics.median(same) / base:4.2f} x empty scene)")
    print(f"plain slice change to drawn frames (3 views):   {_ms(step)}  "
          f"({statistics.median(step) / base:4.2f} x empty scene)")
