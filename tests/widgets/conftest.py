"""Fixtures for the view tests: a shown Viewer under Xvfb that releases its render windows afterwards."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tests.widgets.volumes import read_series
from workstation.app.qt_fixes import install as install_qt_fixes
from workstation.volume import Volume


@pytest.fixture(autouse=True)
def _qt_emit_fix(qapp):
    """PySide6 6.12 loses a reference to True on every Python emit; the app installs this fix, so do the tests."""
    install_qt_fixes()


@pytest.fixture
def viewer(qtbot):
    from widgets.viewer import Viewer

    v = Viewer()
    qtbot.addWidget(v)
    v.resize(900, 900)
    v.set_layout("1x3")  # the 3D view costs seconds per frame in software OpenGL; tests that need it ask for it
    with qtbot.waitExposed(v):  # a context manager: called bare it does not wait
        v.show()
    yield v
    v.close_views()


@cache
def _series(folder: str) -> Volume:
    return read_series(Path(folder))


def series(folder: Path) -> Volume:
    """A real series, read once per test session (the views never modify voxels)."""
    return _series(str(folder))
