"""The job contract for all long work (scan, load, decode, register, export).

A job is a plain function ``fn(progress, cancel, *args) -> result``. It calls
``progress(fraction, message)`` now and then and checks ``cancel.is_set()`` at
least every 100 ms. ``progress`` and ``cancel`` always come first and have no
defaults, so ``Job(fn, *args)`` runs any long function (scan, plan, load,
open, export, anonymise, register, replay) without a wrapper, and a caller
that does not watch says so: ``fn(no_progress, None, *args)``. Nothing here knows about Qt: the app runs a ``Job`` on a
worker and forwards progress and the outcome to the GUI thread with queued
signals; the CLI runs the same job and prints progress to stderr. Consumers
thin progress ticks; a message that reports an event (a run of a batch
ended) is a ``ProgressEvent``, which they always show.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from workstation.errors import Cancelled, WorkstationError

T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, fraction: float, message: str) -> None: ...


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class ProgressEvent(str):
    """A progress message that reports something that happened (one run of a batch ended), not a tick.

    Consumers thin progress to what they can show; a thinned tick is
    replaced by the next one, but a dropped event is lost, so ``Throttle``
    lets every event through.
    """


class Throttle:
    """Which progress calls a consumer shows: every event and 100 %, other ticks at most every ``interval`` s."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = -math.inf

    def passes(self, fraction: float, message: str) -> bool:
        now = time.monotonic()
        if fraction < 1.0 and not isinstance(message, ProgressEvent) and now - self._last < self.interval:
            return False
        self._last = now
        return True


def no_progress(fraction: float, message: str) -> None:
    """Progress sink for callers that do not watch."""


def scaled_progress(progress: Progress, start: float, end: float) -> Progress:
    """Progress of one step of a longer job: the step's 0..1 reported as ``start``..``end`` of the whole."""
    return lambda fraction, message: progress(start + (end - start) * fraction, message)


class CancelToken:
    """A thread-safe cancel flag; ``check()`` raises ``Cancelled`` once set."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def check_cancel(cancel: CancelFlag | None) -> None:
    """Raise ``Cancelled`` when ``cancel`` is set; a ``None`` flag never cancels."""
    if cancel is not None and cancel.is_set():
        raise Cancelled()


class Job(Generic[T]):
    """One unit of long work with progress, cancel, result and error.

    ``run()`` executes in the calling thread; ``start()`` in a daemon thread.
    Either way the outcome is in ``result`` or ``error`` afterwards and
    ``done`` is set, so a GUI can poll or be signalled.
    """

    def __init__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.cancel = CancelToken()
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.listeners: list[Progress] = []
        self._thread: threading.Thread | None = None

    def progress(self, fraction: float, message: str) -> None:
        for listener in list(self.listeners):
            listener(min(max(float(fraction), 0.0), 1.0), message)

    def run(self) -> T:
        """Run to the end in this thread; re-raise the job's error."""
        try:
            self.cancel.check()
            self.result = self.fn(self.progress, self.cancel, *self.args, **self.kwargs)
            return self.result
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.done.set()

    def start(self) -> Job[T]:
        def target() -> None:
            try:
                self.run()
            except BaseException:  # kept in self.error for the consumer
                pass

        self._thread = threading.Thread(target=target, name=f"job-{getattr(self.fn, '__name__', 'fn')}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)


class StderrProgress:
    """Progress printed to stderr for CLI commands: every event, other ticks at most every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5, stream: Any = None) -> None:
        self.throttle = Throttle(interval)
        self.stream = stream or sys.stderr

    def __call__(self, fraction: float, message: str) -> None:
        if self.throttle.passes(fraction, message):
                print(f"[{fraction * 100:5.1f}%] {message}", file=self.stream, flush=True)


def run_job(job: Job[T], progress: Progress | None = None) -> T:
    """Run ``job`` in this thread with an optional extra progress listener."""
    if progress is not None:
        job.listeners.append(progress)
    return job.run()


__all__ = [
    "CancelFlag", "CancelToken", "Cancelled", "Job", "Progress", "ProgressEvent", "StderrProgress", "Throttle",
    "WorkstationError", "check_cancel", "no_progress", "run_job", "scaled_progress",
]
