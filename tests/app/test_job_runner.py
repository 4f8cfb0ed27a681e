"""The Qt job runner: progress, posted events and results arrive on the GUI thread; shutdown joins."""

from __future__ import annotations

import threading
import time

from PySide6.QtWidgets import QApplication

from workstation.app.job_runner import PROGRESS_INTERVAL_S, JobRunner
from workstation.errors import DicomError
from workstation.jobs import Job, ProgressEvent


def _counting(progress, cancel, n: int, post=None):
    """Job: ``n`` steps of 5 ms, each a progress tick and a posted event, every tenth also a progress event."""
    started = time.monotonic()
    for i in range(n):
        if cancel.is_set():
            from workstation.errors import Cancelled
            raise Cancelled()
        progress(i / n, f"step {i}")
        if i % 10 == 0:
            progress(i / n, ProgressEvent(f"milestone {i}"))
        if post is not None:
            post(i)
        time.sleep(0.005)
    return n * 2, time.monotonic() - started


def test_results_events_and_progress_reach_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    threads: set[str] = set()
    events: list[int] = []
    progress: list[float] = []
    milestones: list[str] = []

    def on_event(i):
        threads.add(threading.current_thread().name)
        events.append(i)

    def on_progress(fraction, message):
        threads.add(threading.current_thread().name)
        if message.startswith("milestone"):
            milestones.append(message)
        else:
            progress.append(fraction)

    job = Job(_counting, 40)
    with qtbot.waitSignal(runner.jobsChanged, check_params_cb=lambda n: n == 0, timeout=60_000):
        results: list[tuple[int, float]] = []
        runner.submit(job, "count", on_result=results.append, on_progress=on_progress,
                      on_event=on_event, event_kwarg="post")
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    doubled, seconds = results[0]
    assert doubled == 80 and events == list(range(40))
    assert milestones == [f"milestone {i}" for i in range(0, 40, 10)]  # events are never thinned
    # Ticks are thinned to one per PROGRESS_INTERVAL_S of the job's own time (a bound the throttle keeps
    # whatever the load; how few that is on an idle machine is tests/bench/bench_responsiveness.py's).
    assert 1 <= len(progress) <= seconds / PROGRESS_INTERVAL_S + 1
    assert progress == sorted(progress)
    assert threads == {threading.main_thread().name}
    assert not [t for t in threading.enumerate() if t.name.startswith("job-")]


def test_an_error_arrives_as_the_exception(qtbot) -> None:
    runner = JobRunner()
    errors: list[BaseException] = []

    def broken(progress, cancel):
        raise DicomError("bad header", "/x/y.dcm")

    runner.submit(Job(broken), "broken", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=60_000)
    assert str(errors[0]) == "/x/y.dcm: bad header"


def test_shutdown_cancels_and_joins_a_running_job(qtbot) -> None:
    runner = JobRunner()
    started = threading.Event()

    def endless(progress, cancel):
        started.set()
        while True:
            if cancel.is_set():
                from workstation.errors import Cancelled
                raise Cancelled()
            time.sleep(0.01)

    outcome: list[object] = []
    handle = runner.submit(Job(endless), "endless", on_result=outcome.append, on_error=outcome.append)
    assert started.wait(60)
    assert handle.running
    assert runner.shutdown(timeout=60.0)  # the job stops within 10 ms; the time is measured in tests/bench
    assert not handle.running
    assert not [t for t in threading.enumerate() if t.name.startswith("job-")]
    QApplication.processEvents()  # the thread has ended: anything it emitted is queued and delivered now
    assert outcome == []  # nobody listens after shutdown
