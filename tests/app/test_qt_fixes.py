"""PySide6's Signal.emit must not eat references to True (6.12.0 does; the app's import repairs it)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

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
