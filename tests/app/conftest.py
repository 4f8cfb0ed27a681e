"""Fixtures for the real main window: the demo study written once, a window that is closed after the test."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from workstation.app.main_window import MainWindow
from workstation.demo import write_demo_study
from workstation.jobs import no_progress


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
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def open_and_load(qtbot, win: MainWindow, folder: Path, timeout: int = 120_000) -> str:
    """Open a folder through the window and wait until its first series has completely loaded."""
    with qtbot.waitSignal(win.volumeLoaded, timeout=timeout) as loaded:
        win.open_folder(folder)
    return loaded.args[0]

