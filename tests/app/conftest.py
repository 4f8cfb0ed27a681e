"""Fixtures for the real main window: the demo study written once, a window that is closed after the test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from workstation.app.loading import SliceDone, load_progressively
from workstation.app.main_window import MainWindow
from workstation.demo import write_demo_study
from workstation.jobs import CancelFlag, Progress, no_progress

HOLD_TIMEOUT_S = 120.0


@pytest.fixture(scope="session")
def demo_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo CT + MR study, written once per test run."""
    return write_demo_study(no_progress, None, tmp_path_factory.mktemp("demo") / "demo")


def worker_threads() -> list[str]:
    """Threads a job or a decoder would leave behind."""
    return [t.name for t in threading.enumerate() if t.name.startswith(("job-", "decode"))]


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.set_layout("1x3")  # the 3D view re-uploads whole volumes: the screenshot test covers it
    with qtbot.waitExposed(win):  # a context manager: called bare it does not wait
        win.show()
    yield win
    win.close()


def open_and_load(qtbot, win: MainWindow, folder: Path, timeout: int = 120_000) -> str:
    """Open a folder through the window and wait until its first series has completely loaded."""
    with qtbot.waitSignal(win.volumeLoaded, timeout=timeout) as loaded:
        win.open_folder(folder)
    return loaded.args[0]



def hold_until(condition: Callable[[], bool], timeout: float = HOLD_TIMEOUT_S) -> None:
    """Block a worker thread until ``condition()`` holds: work made to outlast the test's own step, by construction.

    Polls (a worker, not the test, waits here); ``AssertionError`` after ``timeout`` so a broken test ends.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"held work was not released within {timeout:.0f} s")
        time.sleep(0.005)


def load_held_until_cancelled(progress: Progress, cancel: CancelFlag, plan, post: Callable[[object], None]):
    """``load_progressively`` whose decoder threads stop after their first slice until the job is cancelled.

    The first slice still reaches the GUI, the decoder threads are running,
    and the load cannot end before the test has cancelled it.
    """

    def held_post(event: object) -> None:
        post(event)
        if isinstance(event, SliceDone):
            hold_until(cancel.is_set)

    return load_progressively(progress, cancel, plan, held_post)
