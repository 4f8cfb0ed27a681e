"""Responsiveness figures the tests no longer assert: event-loop latency, cancel, close and shutdown times, thinning.

They were timing assertions in the tests (event-loop p99 <= 50 ms during a
registration, cancel <= 1 s, shutdown <= 2 s, fewer than 40 progress calls),
which a loaded two-core machine breaks now and then. Here they are measured
and printed beside their peers of the same run, so a ratio tells what the
figure means on the machine of the day:

- event-loop latency of a 10 ms timer on the GUI thread during a registration
  from the panel (demo CT + MR) against the same timer with nothing running;
- cancel to end of a run, from the panel and for the bare runner, against the
  run's own median time between two optimiser iterations;
- closing the window during a run, and ``JobRunner.shutdown`` of a job that
  checks its cancel flag every 10 ms;
- progress calls a 40-step job makes against those the GUI receives.

Run: ``.venv/bin/python tests/bench/bench_responsiveness.py`` (pytest under
Xvfb with ``-s``; prints one table).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from workstation.jobs import no_progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TIMER_MS = 10
FIGURES: list[tuple[str, str, str]] = []  # (what, measured, peer)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class LatencyProbe:
    """A 10 ms timer on the GUI thread; how late each tick comes is the event loop's latency."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TIMER_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def stop(self) -> np.ndarray:
        self.timer.stop()
        return np.maximum(np.diff(self.ticks) * 1000.0 - TIMER_MS, 0.0)


def _latency(late: np.ndarray) -> str:
    return f"p50 {np.percentile(late, 50):.1f} ms, p99 {np.percentile(late, 99):.1f} ms, max {late.max():.0f} ms"


@pytest.fixture(scope="module", autouse=True)
def table():
    """Print every figure of the run as one table at the end."""
    yield
    width = max((len(what) for what, _, _ in FIGURES), default=0)
    print()
    for what, measured, peer in FIGURES:
        print(f"{what:<{width}}  {measured:<44}  {peer}")


@pytest.fixture(scope="module")
def demo_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workstation.demo import write_demo_study

    return write_demo_study(no_progress, None, tmp_path_factory.mktemp("demo") / "demo")


@pytest.fixture
def paired(qtbot, demo_study: Path):
    """The main window with the demo CT fused with the MR, as tests/app/test_registration_ui.py sets it up."""
    from PySide6.QtCore import Qt

    from tests.app.test_registration_ui import load_both
    from workstation.app.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.set_layout("1x3")
    with qtbot.waitExposed(window):  # a context manager: called bare it does not wait
        window.show()
    ct, mr = load_both(qtbot, window, demo_study)
    controller = window.registration
    controller.dock.show()
    controller.panel.choose(ct, mr)
    qtbot.mouseClick(controller.panel.fuse_button, Qt.MouseButton.LeftButton)
    yield window, controller
    window.close()


def test_gui_latency_cancel_and_close_during_a_registration(qtbot, paired) -> None:
    from PySide6.QtCore import Qt

    window, controller = paired
    idle = LatencyProbe()
    qtbot.wait(3000)  # the peer: the same timer with nothing running
    idle_late = idle.stop()
    probe = LatencyProbe()
    with qtbot.waitSignal(controller.runFinished, timeout=600_000) as finished:
        qtbot.mouseClick(controller.panel.run_button, Qt.MouseButton.LeftButton)
    late = probe.stop()
    seconds = finished.args[0]["seconds"]
    FIGURES.append(("event-loop latency during a run from the panel", _latency(late), "idle: " + _latency(idle_late)))
    FIGURES.append(("  p99 ratio run / idle", f"{np.percentile(late, 99) / max(np.percentile(idle_late, 99), 0.1):.1f}",
                    f"run {seconds:.1f} s, {len(controller.live_updates)} view updates"))

    qtbot.mouseClick(controller.panel.run_button, Qt.MouseButton.LeftButton)
    handle = controller.job
    qtbot.waitUntil(lambda: len(controller.live_updates) >= 2, timeout=120_000)
    with qtbot.waitSignal(controller.runFailed, timeout=60_000):
        started = time.perf_counter()
        qtbot.mouseClick(controller.panel.cancel_button, Qt.MouseButton.LeftButton)
        assert handle.wait(60)
        cancelled = time.perf_counter() - started
    FIGURES.append(("cancel from the panel to the run's end", _ms(cancelled), "contract: 1 s"))

    qtbot.mouseClick(controller.panel.run_button, Qt.MouseButton.LeftButton)
    handle = controller.job
    qtbot.waitUntil(lambda: len(controller.live_updates) >= 1, timeout=120_000)
    started = time.perf_counter()
    window.close()
    FIGURES.append(("closing the window during a run", _ms(time.perf_counter() - started), "contract: 1 s"))
    assert not handle.running


def test_runner_cancel_against_the_iteration_time(demo_study: Path) -> None:
    from registration.parameters import load_preset
    from registration.runner import register
    from workstation.demo import CT, MR
    from workstation.dicom.load import load_volumes
    from workstation.jobs import Job

    [ct] = load_volumes(no_progress, None, demo_study / CT.folder).volumes
    [mr] = load_volumes(no_progress, None, demo_study / MR.folder).volumes
    events: list[float] = []
    asked: list[float] = []

    def on_event(event) -> None:
        events.append(time.perf_counter())
        if event.stage == "level" and event.level == 2 and not asked:
            asked.append(time.perf_counter())
            job.cancel.set()

    job = Job(lambda progress, cancel: register(ct, mr, load_preset("ct-mr-rigid"), threads=2, cancel=cancel,
                                                on_iteration=on_event))
    job.start()
    assert job.wait(600) and job.cancelled
    ended = time.perf_counter()
    step = float(np.median(np.diff(events)))
    FIGURES.append(("register(): cancel at level 3 to the end", _ms(ended - asked[0]),
                    f"median iteration {_ms(step)} (ratio {(ended - asked[0]) / step:.1f})"))


def test_job_runner_thinning_and_shutdown(qtbot) -> None:
    from workstation.app.job_runner import PROGRESS_INTERVAL_S, JobRunner
    from workstation.errors import Cancelled
    from workstation.jobs import Job

    made: list[float] = []

    def counting(progress, cancel):
        started = time.monotonic()
        for i in range(40):
            made.append(i)
            progress(i / 40, f"step {i}")
            time.sleep(0.005)
        return time.monotonic() - started

    runner = JobRunner()
    received: list[float] = []
    results: list[float] = []
    runner.submit(Job(counting), "count", on_result=results.append, on_progress=lambda f, m: received.append(f))
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    FIGURES.append(("progress calls the GUI received of a 40-step job", f"{len(received)} of {len(made)}",
                    f"job {_ms(results[0])}, one per {_ms(PROGRESS_INTERVAL_S)}"))

    started_event = threading.Event()

    def endless(progress, cancel):
        started_event.set()
        while not cancel.is_set():
            time.sleep(0.01)
        raise Cancelled()

    runner.submit(Job(endless), "endless")
    assert started_event.wait(60)
    started = time.perf_counter()
    assert runner.shutdown(timeout=60)
    FIGURES.append(("JobRunner.shutdown of a job polling every 10 ms", _ms(time.perf_counter() - started),
                    "peer: the 10 ms poll"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-s", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(ROOT)]))
