"""The job contract's progress thinning: ticks may be dropped, events and the end never are."""

from __future__ import annotations

import io

from workstation.jobs import ProgressEvent, StderrProgress


def test_stderr_progress_prints_every_event_and_thins_only_the_ticks() -> None:
    out = io.StringIO()
    progress = StderrProgress(interval=3600.0, stream=out)  # no tick after the first can pass by time alone
    progress(0.0, ProgressEvent("8 runs planned, 0 already finished"))
    for n in range(8):
        progress(n / 8, "reading headers")  # ticks: all within the interval of the last line
        progress((n + 1) / 8, ProgressEvent(f"head ct-mr-rigid fast seed {n}: ok"))
    progress(0.5, "reading headers")
    progress(1.0, "done")
    lines = out.getvalue().splitlines()
    assert lines == [
        "[  0.0%] 8 runs planned, 0 already finished",
        *[f"[{(n + 1) / 8 * 100:5.1f}%] head ct-mr-rigid fast seed {n}: ok" for n in range(8)],
        "[100.0%] done",
    ]


def test_ticks_pass_again_once_the_interval_is_over() -> None:
    out = io.StringIO()
    progress = StderrProgress(interval=0.0, stream=out)
    for n in range(5):
        progress(n / 5, "reading headers")
    assert len(out.getvalue().splitlines()) == 5
