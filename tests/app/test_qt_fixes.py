"""PySide6 must not eat references to True (Signal.emit) or None (void methods): 6.12.0 does; the app's import
repairs it."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QImage, QPainter

import workstation.app  # noqa: F401 - the import installs the repair


class _Sender(QObject):
    value = Signal(object)


def test_thousands_of_emits_leave_the_reference_count_of_true_alone(qtbot) -> None:
    sender = _Sender()
    received: list[int] = []
    sender.value.connect(received.append)
    sender.value.emit(-1)  # the first emit caches what it needs
    received.clear()
    before = sys.getrefcount(True)
    for n in range(3000):  # more than True's whole reference count in a fresh interpreter
        sender.value.emit(n)
    assert sys.getrefcount(True) >= before  # without the repair: before - 3000, then an abort
    assert received == list(range(3000))


def test_a_hundred_thousand_painter_calls_leave_none_alive(qtbot) -> None:
    """More void calls than None's whole reference count: a slice view paints that many in a minute of scrolling."""
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    image.fill(0xFFFFFFFF)
    painter = QPainter(image)
    try:
        for _ in range(100_000):
            painter.drawLine(QPointF(0, 0), QPointF(7, 7))  # without the repair: an abort in none_dealloc
    finally:
        painter.end()
    assert image.pixel(3, 3) == 0xFF000000 and image.pixel(0, 7) == 0xFFFFFFFF  # the line, and beside it
