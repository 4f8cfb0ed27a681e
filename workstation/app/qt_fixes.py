"""A work-around for PySide6 6.12.0's ``Signal.emit`` losing a reference to ``True`` on every call.

Measured here (PySide6 6.12.0, CPython 3.11): each ``SignalInstance.emit``
returns ``True`` without counting the reference it hands over, so every emit
from Python lowers ``True``'s reference count by one; after a few hundred
emits CPython aborts with "bool_dealloc: deallocating True or False". Qt's
own emits (timers, buttons) are not affected, Python ``emit()`` calls are.

``install()`` measures the loss on a probe signal and, only if it is there,
wraps ``emit`` to add the missing reference, so a fixed PySide6 runs
untouched. Call it before any signal is emitted.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance

_original_emit = SignalInstance.emit
_installed = False


class _Probe(QObject):
    fired = Signal()


def emit_loses_a_reference() -> bool:
    """True when a Python emit lowers ``True``'s reference count (the bug is present)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        _original_emit(probe.fired)
    lost = before - sys.getrefcount(True)
    ctypes.pythonapi.Py_IncRef.argtypes = [ctypes.py_object]
    for _ in range(max(lost, 0)):  # give back what the probe took
        ctypes.pythonapi.Py_IncRef(True)
    return lost >= 10


def _emit(self: SignalInstance, *args: object) -> object:
    result = _original_emit(self, *args)
    if result is True or result is False:
        ctypes.pythonapi.Py_IncRef(result)
    return result


def install() -> bool:
    """Patch ``SignalInstance.emit`` when (and only when) it loses references; True when patched."""
    global _installed
    if not _installed and emit_loses_a_reference():
        SignalInstance.emit = _emit
        _installed = True
    return _installed
