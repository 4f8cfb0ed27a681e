"""Progressive loading through the Qt job runner: first slice early, the same memory, cancel cleanly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from tests.app.conftest import load_held_until_cancelled, worker_threads
from workstation.app.job_runner import JobRunner
from workstation.app.loading import FirstSlice, SliceDone, load_progressively
from workstation.dicom.load import plan_volumes
from workstation.errors import Cancelled
from workstation.jobs import Job, no_progress


@pytest.fixture(scope="module")
def ct_plan(cirs_ct: Path):
    (plan,) = plan_volumes(no_progress, None, cirs_ct)
    return plan


def test_first_slice_arrives_before_the_volume_and_shares_its_memory(qtbot, ct_plan) -> None:
    runner = JobRunner()
    events: list[object] = []
    middle_at_first: list[np.ndarray] = []
    results: list[object] = []

    def on_event(event: object) -> None:
        if isinstance(event, FirstSlice):
            assert not results, "the first slice came after the finished volume"
            middle_at_first.append(event.volume.array[event.k].copy())
        events.append(event)

    runner.submit(Job(load_progressively, ct_plan), "load", on_result=results.append, on_event=on_event,
                  event_kwarg="post")
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    volume = results[0]
    first = events[0]
    assert isinstance(first, FirstSlice) and first.k == ct_plan.slices // 2
    assert sorted(e.k for e in events[1:] if isinstance(e, SliceDone)) == [
        k for k in range(ct_plan.slices) if k != first.k]
    assert np.shares_memory(first.volume.array, volume.array)  # no copy: VTK sees the slices as they land
    # The window's voxels are not a SimpleITK image's: freeing one releases the GIL, and a shown volume's array is
    # often freed inside VTK's garbage collector, whose lock the GUI thread may be waiting for (a CI deadlock).
    owner = volume.array
    while getattr(owner, "base", None) is not None:
        owner = owner.base
    assert not isinstance(getattr(owner, "image", None), sitk.Image)
    np.testing.assert_array_equal(first.volume.affine, volume.affine)
    np.testing.assert_array_equal(middle_at_first[0], volume.array[first.k])
    assert first.volume.meta.series_uid == volume.meta.series_uid and volume.meta.units == "HU"
    assert not worker_threads()


def test_cancel_after_the_first_slice_stops_and_leaves_no_threads(qtbot, ct_plan) -> None:
    runner = JobRunner()
    errors: list[BaseException] = []
    results: list[object] = []
    handle = None

    def on_event(event: object) -> None:
        if isinstance(event, FirstSlice):
            handle.cancel()

    # The decoder threads wait after their first slice until the cancel: the load cannot win the race.
    handle = runner.submit(Job(load_held_until_cancelled, ct_plan), "load", on_result=results.append,
                           on_error=errors.append, on_event=on_event, event_kwarg="post")
    qtbot.waitUntil(lambda: bool(errors or results), timeout=60_000)
    assert results == [] and isinstance(errors[0], Cancelled)
    assert handle.wait(30)
    assert not worker_threads()
