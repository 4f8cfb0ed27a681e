"""Run ``workstation.jobs.Job`` on worker threads and report back on the GUI thread.

Jobs know nothing of Qt. Each one runs in its own Python thread; its
progress, the objects it posts on the way (a decoded slice, say) and its
outcome reach the GUI thread through signals of a ``QObject`` living there,
which Qt queues across threads. Progress is thinned to what a progress bar
can show. ``shutdown()`` cancels every job and joins its thread, so closing
the window during a load neither hangs nor leaves threads behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from workstation.errors import Cancelled
from workstation.jobs import Job, Throttle

log = logging.getLogger("workstation.app.jobs")

PROGRESS_INTERVAL_S = 0.05
JOIN_TIMEOUT_S = 5.0


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from a worker are queued to it."""

    progressed = Signal(float, str)
    posted = Signal(object)
    finished = Signal(object)
    failed = Signal(object)


class JobHandle:
    """One running job: cancel it, post events from it, wait for it (tests, shutdown)."""

    def __init__(self, job: Job[Any], name: str, relay: _Relay) -> None:
        self.job = job
        self.name = name
        self.relay = relay
        self.thread: threading.Thread | None = None
        self._throttle = Throttle(PROGRESS_INTERVAL_S)
        self._emit_lock = threading.Lock()  # PySide6 emits from several threads at once are not safe
        self.active = True  # False once the GUI side has stopped listening

    def cancel(self) -> None:
        self.job.cancel.set()

    def post(self, obj: object) -> None:
        """Thread-safe: hand ``obj`` to the GUI thread's ``on_event`` callback."""
        with self._emit_lock:
            if self.active:
                self.relay.posted.emit(obj)

    def _progress(self, fraction: float, message: str) -> None:
        with self._emit_lock:
            if self.active and self._throttle.passes(fraction, message):
                self.relay.progressed.emit(fraction, message)

    def _run(self) -> None:
        try:
            result = self.job.run()
        except BaseException as exc:  # every outcome goes to the GUI as a value
            if not isinstance(exc, Cancelled):
                log.info("job %s failed", self.name, exc_info=True)
            if self.active:
                self.relay.failed.emit(exc)
            return
        if self.active:
            self.relay.finished.emit(result)

    def wait(self, timeout: float | None = None) -> bool:
        """Join the worker thread; True when it has ended."""
        if self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


class JobRunner(QObject):
    """Starts jobs on threads and keeps them until they end or the runner shuts down."""

    jobsChanged = Signal(int)  # number of running jobs, for a busy indicator

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._handles: list[JobHandle] = []
        self._closed = False

    def submit(
        self,
        job: Job[Any],
        name: str,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_event: Callable[[object], None] | None = None,
        event_kwarg: str = "",
    ) -> JobHandle:
        """Start ``job`` on a new thread; callbacks run on the GUI thread.

        With ``event_kwarg`` the job's function gets a thread-safe callback
        under that keyword (``on_slice`` for a progressive load, say); what it
        is called with reaches ``on_event`` on the GUI thread.
        """
        if self._closed:
            raise RuntimeError("the job runner has shut down")
        handle = JobHandle(job, name, _Relay(self))
        job.listeners.append(handle._progress)
        if on_progress is not None:
            handle.relay.progressed.connect(on_progress)
        if on_event is not None:
            handle.relay.posted.connect(on_event)
        if event_kwarg:
            job.kwargs[event_kwarg] = handle.post
        if on_result is not None:
            handle.relay.finished.connect(on_result)
        if on_error is not None:
            handle.relay.failed.connect(on_error)
        handle.relay.finished.connect(self._forget)
        handle.relay.failed.connect(self._forget)
        handle.thread = threading.Thread(target=handle._run, name=f"job-{name}", daemon=True)
        self._handles.append(handle)
        handle.thread.start()
        self.jobsChanged.emit(len(self._handles))
        return handle

    @Slot(object)
    def _forget(self, _outcome: object) -> None:
        """Drop the handle whose relay reported the end (connected after the caller's callbacks)."""
        relay = self.sender()
        for handle in [h for h in self._handles if h.relay is relay]:
            handle.wait(JOIN_TIMEOUT_S)
            self._handles.remove(handle)
            relay.deleteLater()
            self.jobsChanged.emit(len(self._handles))

    @property
    def closed(self) -> bool:
        return self._closed

    def running(self) -> list[JobHandle]:
        return [h for h in self._handles if h.running]

    def cancel_all(self) -> None:
        for handle in list(self._handles):
            handle.cancel()

    def shutdown(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Cancel every job, stop listening to it and join its thread; True when none is left."""
        self._closed = True
        for handle in self._handles:
            handle.active = False
            handle.cancel()
        deadline = time.monotonic() + timeout
        for handle in self._handles:
            if not handle.wait(max(0.0, deadline - time.monotonic())):
                log.warning("job %s did not stop within %.1f s of being cancelled", handle.name, timeout)
        left = [h for h in self._handles if h.running]
        self._handles = left
        return not left
