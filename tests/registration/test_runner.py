"""The runner on the demo CT + MR: accuracy against the documented truth, replay, live events, cancel."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from registration.evaluation import body_points, disagreement, tre
from registration.parameters import load_preset
from registration.runner import IterationEvent, register
from registration.transforms import read_transform, write_transform
from workstation.errors import Cancelled, RegistrationError
from workstation.jobs import CancelToken, Job


def test_ct_mr_rigid_recovers_the_demo_offset(demo_pair) -> None:
    events: list[IterationEvent] = []
    result = register(demo_pair.ct, demo_pair.mr, load_preset("ct-mr-rigid"), seed=3, threads=2,
                      on_iteration=events.append)
    head = disagreement(result.matrix_lps, demo_pair.truth, body_points(demo_pair.ct))
    assert head.mean <= 0.5, head
    assert tre(result.transform, demo_pair.landmarks_ct, demo_pair.landmarks_mr).mean <= 0.5
    start = disagreement(np.eye(4), demo_pair.truth, body_points(demo_pair.ct))
    assert start.mean > 5  # the offset is real: the scanner placement alone is far off

    # The record: levels, history and live events agree with each other.
    assert result.init.startswith("search: ")
    assert result.iterations == sum(level["iterations"] for level in result.levels) > 0
    assert [h[0] for h in result.metric_history] == sorted(h[0] for h in result.metric_history)
    level_events = [e for e in events if e.stage == "level"]
    assert [(e.level, e.iteration, e.metric) for e in level_events] == [tuple(h) for h in result.metric_history]
    assert {e.stage for e in events} >= {"search", "refine", "level"}
    assert all(e.matrix_lps.shape == (4, 4) for e in events)
    assert np.allclose(level_events[-1].matrix_lps, result.matrix_lps, atol=0.5)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["seed"] == 3 and record["threads"] == 2 and record["parameters"]["name"] == "ct-mr-rigid"
    assert set(record["versions"]) == {"python", "SimpleITK", "numpy", "workstation"}
    assert len(record["search"]) == 25 and np.allclose(record["matrix_lps"], result.matrix_lps)


def test_same_seed_replays_the_same_transform_whatever_the_thread_count(demo_pair) -> None:
    params = load_preset("mr-mr-rigid")
    params.search.keep, params.search.refine_iterations = 2, 10  # a short search still runs on worker threads
    runs = [register(demo_pair.ct, demo_pair.mr, params, seed=seed, threads=threads)
            for seed, threads in ((7, 2), (7, 1), (8, 2))]
    assert np.array_equal(runs[0].matrix_lps, runs[1].matrix_lps)
    assert runs[0].metric_history == runs[1].metric_history and runs[0].search == runs[1].search
    assert not np.array_equal(runs[0].matrix_lps, runs[2].matrix_lps)  # the seed does drive the sampling


@pytest.mark.parametrize("stop_at", ["search", "level"])
def test_cancel_ends_the_run(demo_pair, stop_at: str) -> None:
    """The cancel is set from the run's own callback, so the run cannot end first; how fast it stops is
    measured in tests/bench/bench_responsiveness.py."""
    job = Job(lambda progress, cancel: register(demo_pair.ct, demo_pair.mr, load_preset("ct-mr-rigid"),
                                                 threads=2, cancel=cancel, on_iteration=on_event))
    asked = threading.Event()

    def on_event(event: IterationEvent) -> None:
        if event.stage == stop_at and event.level == (2 if stop_at == "level" else -1) and not asked.is_set():
            asked.set()
            job.cancel.set()

    job.start()
    assert job.wait(300)
    assert asked.is_set() and isinstance(job.error, Cancelled) and job.result is None


def test_a_cancel_set_before_the_start_raises_at_once(demo_pair) -> None:
    token = CancelToken()
    token.set()
    with pytest.raises(Cancelled):
        register(demo_pair.ct, demo_pair.mr, load_preset("ct-mr-rigid"), cancel=token)


def test_landmark_rigid_fits_the_demo_landmarks(demo_pair) -> None:
    result = register(demo_pair.ct, demo_pair.mr, load_preset("landmark-rigid"),
                      fixed_landmarks=demo_pair.landmarks_ct, moving_landmarks=demo_pair.landmarks_mr)
    assert np.allclose(result.matrix_lps, demo_pair.truth, atol=1e-6)
    assert result.metric < 1e-6 and result.init == "landmarks"
    with pytest.raises(RegistrationError, match="needs fixed and moving landmarks"):
        register(demo_pair.ct, demo_pair.mr, load_preset("landmark-rigid"))


def test_landmark_and_manual_starts_skip_the_search(demo_pair) -> None:
    params = load_preset("ct-mr-rigid")
    params.levels = params.levels[:1]
    by_points = register(demo_pair.ct, demo_pair.mr, params, fixed_landmarks=demo_pair.landmarks_ct,
                         moving_landmarks=demo_pair.landmarks_mr)
    assert by_points.init == "landmarks" and by_points.search == []
    by_hand = register(demo_pair.ct, demo_pair.mr, params, initial_transform=demo_pair.truth)
    assert by_hand.init == "manual"
    for result in (by_points, by_hand):
        assert disagreement(result.matrix_lps, demo_pair.truth, demo_pair.landmarks_ct).mean < 2.0
    with pytest.raises(RegistrationError, match="unknown init"):
        register(demo_pair.ct, demo_pair.mr, params, init="guess")


def test_bspline_stacks_bounded_grids_on_the_bulk_and_stays_near_a_rigid_truth(demo_pair, tmp_path) -> None:
    params = load_preset("bspline-deformable")
    for level in params.levels:
        level.iterations = 5  # the mechanics, not the convergence
    result = register(demo_pair.ct, demo_pair.mr, params, initial_transform=demo_pair.truth, seed=1)
    assert result.transform.GetName() == "CompositeTransform"
    assert result.transform.GetNumberOfTransforms() == 1 + len(params.levels)
    assert np.allclose(result.matrix_lps, demo_pair.truth, atol=1e-9)  # the given bulk is kept as is
    points = body_points(demo_pair.ct)[::50]
    assert disagreement(result.transform, demo_pair.truth, points).mean < 2.0
    back = read_transform(write_transform(result.transform, tmp_path / "deformable.h5"))
    assert disagreement(back, result.transform, points).max < 1e-6
