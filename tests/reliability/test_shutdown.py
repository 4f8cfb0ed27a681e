"""Closing during an import, load, registration, export or anonymisation: the job stops, nothing is left running.

The GUI side (closing the window) is the app's test; this is what it relies
on: every long job, cancelled in the middle, ends with ``Cancelled``, and
afterwards no thread it started is alive and no child process (header
reading workers) remains, zombies included. The bound on waiting is a hang
detector, not a timing claim.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from registration.parameters import load_preset
from registration.runner import register
from workstation.dicom.anonymise import anonymise_study
from workstation.dicom.export import export_dicom_series
from workstation.dicom.header import read_header
from workstation.dicom.library import Library
from workstation.dicom.load import load_volumes
from workstation.jobs import Job, no_progress
from workstation.volume import Volume

HANG = 60.0


SERVICES = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")
"""Python's per-interpreter helpers: started once, they end with the program (see the whole-program test)."""


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def children() -> set[str]:
    """Child processes of this process (any state, zombies too) as 'pid state command'."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me:
                found.add(f"{entry} {fields[0]} {_cmdline(entry)[:120]}")
    return found


def leftovers(threads_before: set[threading.Thread], children_before: set[str]) -> tuple[list[str], list[str]]:
    """Threads and processes the job left, after a grace period for pools to wind down (generous: a loaded machine)."""
    deadline = time.monotonic() + HANG
    while True:
        threads = [t.name for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        procs = sorted(p for p in children() - children_before if not any(s in p for s in SERVICES))
        if (not threads and not procs) or time.monotonic() > deadline:
            return threads, procs
        time.sleep(0.05)


def cancel_midway(fn: Callable[..., object], *args: object, at: float = 0.05) -> Job:
    """Run ``fn`` as a job, cancel it once it reports ``at`` progress, and wait for it to end.

    The cancel is set by the progress listener, in the job's own thread, so
    the job cannot finish between the report and the cancel.
    """
    threads_before, children_before = set(threading.enumerate()), children()
    job = Job(fn, *args)
    reached = threading.Event()

    def cancel_at(fraction: float, message: str) -> None:
        if fraction >= at:
            job.cancel.set()
            reached.set()

    job.listeners.append(cancel_at)
    job.start()
    assert reached.wait(HANG), "the job never reported progress"
    assert job.wait(HANG), "the job did not end after cancel"
    assert job.cancelled, f"job ended with {job.error!r} instead of Cancelled"
    assert leftovers(threads_before, children_before) == ([], [])
    return job


@pytest.fixture(scope="module")
def ct_volume(cirs_ct: Path) -> Volume:
    return load_volumes(no_progress, None, cirs_ct).volumes[0]


def test_import_with_worker_processes(tmp_path: Path, cirs_ct: Path) -> None:
    with Library(tmp_path / "library.sqlite") as library:
        cancel_midway(lambda progress, cancel: library.import_folder(progress, cancel, cirs_ct.parent, workers=2))
        assert library.counts()["instances"] < 635  # stopped early, and the library still answers


def test_load(cirs_mr: Path) -> None:
    cancel_midway(lambda progress, cancel: load_volumes(progress, cancel, cirs_mr), at=0.3)


def test_registration(ct_volume: Volume, cirs_mr: Path) -> None:
    moving = load_volumes(no_progress, None, cirs_mr).volumes[0]
    params = load_preset("ct-mr-rigid")
    cancel_midway(lambda progress, cancel: register(
        ct_volume, moving, params, cancel=cancel, on_iteration=lambda event: progress(0.5, "iteration")), at=0.5)


def test_export(ct_volume: Volume, cirs_ct: Path, tmp_path: Path) -> None:
    reference = read_header(next(cirs_ct.iterdir()))
    cancel_midway(lambda progress, cancel: export_dicom_series(progress, cancel, ct_volume, tmp_path / "out", reference,
                                                               "x", "1.2.3"))
    assert list(tmp_path.iterdir()) == []


def test_anonymise(cirs_ct: Path, tmp_path: Path) -> None:
    files = sorted(cirs_ct.iterdir())
    cancel_midway(lambda progress, cancel: anonymise_study(progress, cancel, files, tmp_path / "out", None))
    assert list(tmp_path.iterdir()) == []


PROGRAM = """
import sys
from workstation.dicom.library import Library
from workstation.jobs import Job
library = Library(sys.argv[1])
job = Job(lambda progress, cancel: library.import_folder(progress, cancel, sys.argv[2], workers=2))
job.listeners.append(lambda fraction, message: job.cancel.set() if fraction > 0.1 else None)  # in the job's thread
job.start()
job.wait(120)
print("cancelled" if job.cancelled else repr(job.error), flush=True)
"""


def test_whole_program_leaves_no_process_behind(tmp_path: Path, cirs_ct: Path) -> None:
    """A program that cancels an import with worker processes and exits: none of its processes outlive it."""
    mark = f"WORKSTATION_SHUTDOWN_TEST={uuid.uuid4()}"
    key, value = mark.split("=")
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path / "library.sqlite"), str(cirs_ct.parent)],
                          capture_output=True, text=True, timeout=HANG * 3, env={**os.environ, key: value})
    assert done.stdout.strip() == "cancelled", done.stderr[-2000:]
    deadline = time.monotonic() + HANG  # exiting processes are reaped in ms; the margin is for a loaded machine
    while (survivors := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert survivors == []


def _marked(mark: str) -> list[str]:
    """Processes whose environment carries ``mark``: the test program and everything it started."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if mark.encode() in f.read().split(b"\0"):
                        found.append(f"{entry} {_cmdline(entry)[:120]}")
            except OSError:
                continue
    return found
