"""Work-arounds for PySide6 6.12.0 losing references to ``True`` (``Signal.emit``) and ``None`` (void methods).

Measured here (PySide6 6.12.0, CPython 3.11): each ``SignalInstance.emit``
returns ``True`` without counting the reference it hands over, so every emit
from Python lowers ``True``'s reference count by one; after a few hundred
emits CPython aborts with "bool_dealloc: deallocating True or False". Qt's
own emits (timers, buttons) are not affected, Python ``emit()`` calls are.

``install()`` measures the loss on a probe signal and, only if it is there,
wraps ``emit`` to add the missing reference, so a fixed PySide6 runs
untouched. Call it before any signal is emitted.

The same release returns ``None`` from every void method (``QPainter.drawLine``,
``setPen``, ``QWidget.update``, ...) without counting that reference either:
measured 100 lost references in 100 calls. A slice view paints a few dozen
of them per frame, so a minute of scrolling would free ``None``. References
to ``None`` never need to be given back (CPython 3.12 makes it immortal), so
when the loss is measured ``install()`` adds 2**60 of them once, as 3.12 does.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtGui import QPen

_original_emit = SignalInstance.emit
_installed = False
_IMMORTAL = 2**60
ctypes.pythonapi.Py_IncRef.argtypes = [ctypes.py_object]


class _Probe(QObject):
    fired = Signal()


def emit_loses_a_reference() -> bool:
    """True when a Python emit lowers ``True``'s reference count (the bug is present)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        _original_emit(probe.fired)
    lost = before - sys.getrefcount(True)
    for _ in range(max(lost, 0)):  # give back what the probe took
        ctypes.pythonapi.Py_IncRef(True)
    return lost >= 10


def void_call_loses_none() -> bool:
    """True when a void method's returned ``None`` lowers ``None``'s reference count (the bug is present)."""
    pen = QPen()
    before = sys.getrefcount(None)
    for _ in range(10):
        pen.setWidth(1)
    lost = before - sys.getrefcount(None)
    for _ in range(max(lost, 0)):
        ctypes.pythonapi.Py_IncRef(None)
    return lost >= 10


def _emit(self: SignalInstance, *args: object) -> object:
    result = _original_emit(self, *args)
    if result is True or result is False:
        ctypes.pythonapi.Py_IncRef(result)
    return result


def install() -> bool:
    """Patch ``SignalInstance.emit`` and keep ``None`` alive when (and only when) they lose references.

    True when something was patched.
    """
    global _installed
    if not _installed and emit_loses_a_reference():
        SignalInstance.emit = _emit
        _installed = True
    if not _installed_none() and void_call_loses_none():
        ctypes.c_ssize_t.from_address(id(None)).value += _IMMORTAL  # ob_refcnt, the first field of every object
    return _installed or _installed_none()


def _installed_none() -> bool:
    return sys.getrefcount(None) > _IMMORTAL
