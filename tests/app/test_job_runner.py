"""The Qt job runner: progress, posted events and results arrive on the GUI thread; shutdown joins."""

from __future__ import annotations

import threading
import time

from workstation.app.job_runner import JobRunner
from workstation.errors import DicomError
from workstation.jobs import Job


def _counting(progress, cancel, n: int, post=None):
    for i in range(n):
        if cancel.is_set():
            from workstation.errors import Cancelled
            raise Cancelled()
        progress(i / n, f"step {i}")
        if post is not None:
            post(i)
        time.sleep(0.005)
    return n * 2


def test_results_events_and_progress_reach_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    threads: set[str] = set()
    events: list[int] = []
    progress: list[float] = []

    def on_event(i):
        threads.add(threading.current_thread().name)
        events.append(i)

    def on_progress(fraction, _message):
        threads.add(threading.current_thread().name)
        progress.append(fraction)

    job = Job(_counting, 40)
    with qtbot.waitSignal(runner.jobsChanged, check_params_cb=lambda n: n == 0, timeout=10_000):
        results: list[int] = []
        runner.submit(job, "count", on_result=results.append, on_progress=on_progress,
                      on_event=on_event, event_kwarg="post")
    qtbot.waitUntil(lambda: results == [80], timeout=5000)
    assert events == list(range(40))
    assert 0 < len(progress) < 40  # thinned, yet it moved
    assert progress == sorted(progress)
    assert threads == {threading.main_thread().name}
    assert not [t for t in threading.enumerate() if t.name.startswith("job-")]


def test_an_error_arrives_as_the_exception(qtbot) -> None:
    runner = JobRunner()
    errors: list[BaseException] = []

    def broken(progress, cancel):
        raise DicomError("bad header", "/x/y.dcm")

    runner.submit(Job(broken), "broken", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
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
    assert started.wait(5)
    assert handle.running
    assert runner.shutdown(timeout=2.0)
    assert not handle.running
    assert not [t for t in threading.enumerate() if t.name.startswith("job-")]
    qtbot.wait(50)
    assert outcome == []  # nobody listens after shutdown
