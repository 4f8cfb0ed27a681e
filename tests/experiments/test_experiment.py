"""Experiments on real dask LocalClusters with real registrations of the demo study.

Covers: a 2-worker local cluster made by the runner; failed runs recorded
without stopping the batch; skipping finished runs; bit-for-bit determinism
across workers and replay in this process; cancel; a worker killed mid-run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client

from workstation.errors import Cancelled, WorkstationError
from workstation.experiments.replay import replay
from workstation.experiments.report import write_report
from workstation.experiments.results import COMPLETE, read_table, run_dir
from workstation.experiments.runner import run_experiment
from workstation.experiments.spec import load_spec
from workstation.jobs import CancelToken, no_progress


def _matrix(results: Path, run_id: str) -> np.ndarray:
    return np.asarray(json.loads((run_dir(results, run_id) / "result.json").read_text())["matrix_lps"])


def _tre_before(pairs_dir: Path, moving: str) -> float:
    """Mean landmark distance with no registration: what a useful run must beat."""
    fixed = pd.read_csv(pairs_dir / "ct_points.csv").set_index("name")
    moving_points = json.loads((pairs_dir / f"{moving}_points.json").read_text())["points"]
    return float(np.mean([np.linalg.norm(np.asarray(p["position"]) - fixed.loc[p["name"]].to_numpy())
                          for p in moving_points]))


def test_local_cluster_experiment_records_runs_failures_and_resumes(pairs_dir: Path, tmp_path: Path, pair_entry,
                                                                    write_experiment) -> None:
    missing = {**pair_entry("gone"), "moving": str(tmp_path / "no_such_mr.nii.gz")}
    spec = load_spec(write_experiment(tmp_path / "cohort.yaml", [
        pair_entry("head"), pair_entry("shifted", "mr_shifted"), missing], seeds=[1]))
    results = tmp_path / "results"
    messages: list[str] = []

    summary = run_experiment(lambda f, m: messages.append(m), None, spec, results, workers=2)

    assert (summary.planned, summary.skipped, summary.succeeded, summary.failed) == (3, 0, 2, 1)
    assert summary.workers == 2
    table = read_table(results)
    assert list(table["run_id"]) == [t for t in json.loads((results / "experiment.json").read_text())["runs"]]
    assert pd.read_csv(results / "results.csv")["run_id"].tolist() == table["run_id"].tolist()
    ok, failed = table[table["status"] == "ok"], table[table["status"] == "failed"]
    assert set(failed["pair"]) == {"gone"}
    assert all(e == f"{tmp_path / 'no_such_mr.nii.gz'}: no such file or folder" for e in failed["error"])
    for pair, moving in (("head", "mr"), ("shifted", "mr_shifted")):
        runs = ok[ok["pair"] == pair]
        assert (runs["tre_mean_mm"] < _tre_before(pairs_dir, moving) / 2).all(), runs["tre_mean_mm"]
        assert np.allclose(runs["tre_before_mm"], _tre_before(pairs_dir, moving), rtol=1e-12)
        assert (runs["dice_mean"] > runs["dice_mean_before"] + 0.2).all()
        assert (runs["mi_after"] > runs["mi_before"]).all()
    assert ok["kept_start"].tolist() == [False, False]  # the registrations improved on where they started
    assert failed["kept_start"].isna().all()
    for run_id in ok["run_id"]:
        folder = run_dir(results, run_id)
        for name in ("task.json", "parameters.json", "transform.tfm", "transform.json", "result.json",
                     "metric_history.csv", "timing.json", "versions.json", "status.json", COMPLETE):
            assert (folder / name).is_file(), f"{folder / name} missing"
        assert len(pd.read_csv(folder / "metric_history.csv")) > 0
    for run_id in failed["run_id"]:
        assert not (run_dir(results, run_id) / COMPLETE).exists()
        with pytest.raises(WorkstationError, match="not a finished run"):
            replay(no_progress, None, run_dir(results, run_id))
    assert any("gone" in m and "failed" in m for m in messages)

    # A re-run skips the finished runs and tries only the failed ones again.
    again = run_experiment(no_progress, None, spec, results, workers=2)
    assert (again.skipped, again.succeeded, again.failed) == (2, 0, 1)
    assert read_table(results)["finished"].tolist()[:2] == table["finished"].tolist()[:2]

    report = write_report(results)
    assert {p.name for p in report.files} >= {"summary.csv", "accuracy.png", "time.png", "convergence.png"}
    for png in (p for p in report.files if p.suffix == ".png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    row = report.summary.iloc[0]
    assert (row["runs"], row["ok"], row["failed"]) == (3, 2, 1)
    assert row["tre_mean_mm"] == ok["tre_mean_mm"].mean()


def test_runs_are_bit_identical_across_workers_and_replay(tmp_path: Path, cluster, pair_entry,
                                                          write_experiment) -> None:
    spec = load_spec(write_experiment(tmp_path / "det.yaml", [pair_entry("head")], seeds=[3, 4]))
    first = run_experiment(no_progress, None, spec, tmp_path / "a", scheduler=cluster.scheduler_address)
    second = run_experiment(no_progress, None, spec, tmp_path / "b", scheduler=cluster.scheduler_address)
    assert first.succeeded == second.succeeded == 2
    ids = first.table["run_id"].tolist()
    assert ids == second.table["run_id"].tolist()
    for run_id in ids:
        assert np.array_equal(_matrix(tmp_path / "a", run_id), _matrix(tmp_path / "b", run_id))
    # The seed matters: random metric sampling makes two seeds end (slightly) apart.
    assert not np.array_equal(_matrix(tmp_path / "a", ids[0]), _matrix(tmp_path / "a", ids[1]))

    outcome = replay(no_progress, None, run_dir(tmp_path / "a", ids[0]))
    assert outcome.identical, outcome.max_abs_difference
    assert np.array_equal(outcome.replayed_matrix, _matrix(tmp_path / "a", ids[0]))
    assert outcome.version_differences == {}

    # A replay refuses inputs whose content is not what the run read.
    task_file = run_dir(tmp_path / "b", ids[0]) / "task.json"
    task = json.loads(task_file.read_text())
    task["fingerprints"]["moving"] = "0" * 64
    task_file.write_text(json.dumps(task))
    with pytest.raises(WorkstationError, match=r"mr\.nii\.gz: moving input differs from the one the run used"):
        replay(no_progress, None, task_file.parent)


def test_cancel_stops_the_batch_and_a_rerun_finishes_it(tmp_path: Path, cluster, pair_entry,
                                                        write_experiment) -> None:
    spec = load_spec(write_experiment(tmp_path / "stop.yaml", [
        pair_entry("head"), pair_entry("shifted", "mr_shifted")], seeds=[1, 2]))
    results = tmp_path / "results"
    cancel = CancelToken()

    def progress(fraction: float, message: str) -> None:
        if ": ok" in message:
            cancel.set()  # the user presses Cancel when the first run is in

    with pytest.raises(Cancelled):
        run_experiment(progress, cancel, spec, results, scheduler=cluster.scheduler_address)
    table = read_table(results)  # written on the way out, with the runs not done as pending
    # Nothing is recorded after the cancel, however many runs ended in the same instant.
    assert sorted(table["status"]) == ["ok", "pending", "pending", "pending"]
    for row in table.itertuples():
        assert (run_dir(results, row.run_id) / COMPLETE).exists() == (row.status == "ok")
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        # nothing left running on the cluster (the scheduler forgets cancelled tasks on its own loop)
        _wait_for(lambda: not any(client.processing().values()), "tasks still processing after the cancel")

    again = run_experiment(no_progress, None, spec, results, scheduler=cluster.scheduler_address)
    assert again.skipped == (table["status"] == "ok").sum() and again.failed == 0
    assert (again.table["status"] == "ok").all()


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _kill_a_busy_worker(client: Client, pids: dict[str, int], stop: threading.Event) -> int | None:
    """SIGKILL the process of the first worker seen running a task; its pid, or None if the batch ended first."""
    while not stop.is_set():
        busy = [address for address, keys in client.processing().items() if keys]
        if busy and busy[0] in pids:
            os.kill(pids[busy[0]], signal.SIGKILL)
            return pids[busy[0]]
        time.sleep(0.02)
    return None


def test_experiment_completes_after_a_worker_is_killed(tmp_path: Path, cluster, pair_entry, write_experiment) -> None:
    spec = load_spec(write_experiment(tmp_path / "kill.yaml", [
        pair_entry("head"), pair_entry("shifted", "mr_shifted")], seeds=[1, 2]))
    results = tmp_path / "results"
    gate = tmp_path / "gate"
    outcome: dict = {}
    done = threading.Event()

    # Runs on the cluster's workers wait at the gate before registering, so a worker is busy, by construction,
    # when the watch looks for one to kill: no race with a batch that could end first. Defined here so that
    # they travel to the workers by value. A worker started after the kill is a fresh process, without the hold.
    def hold_at_gate() -> None:
        from workstation.experiments import execute as module

        original = module.register_task

        def held(task, inputs):
            while not gate.exists():
                time.sleep(0.01)
            return original(task, inputs)

        held.original = original
        module.register_task = held

    def release() -> None:
        from workstation.experiments import execute as module

        module.register_task = getattr(module.register_task, "original", module.register_task)

    def batch() -> None:
        try:
            outcome["summary"] = run_experiment(no_progress, None, spec, results, scheduler=cluster.scheduler_address)
        finally:
            done.set()

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = client.run(os.getpid)  # connected and asked before the batch starts: the watch begins at once
        client.run(hold_at_gate)
        try:
            worker = threading.Thread(target=batch)
            worker.start()
            killed = _kill_a_busy_worker(client, pids, done)
            gate.touch()
            worker.join(timeout=300)
        finally:
            gate.touch()
            client.run(release)
    assert killed is not None, "the batch ended before a worker could be killed"
    summary = outcome["summary"]
    assert (summary.succeeded, summary.failed) == (4, 0)
    assert killed not in {int(w.split(":")[-1]) for w in summary.table["worker"]}

    # A run whose folder lost its marker (as if the client had died while writing it) is done again, alone.
    lost = summary.table["run_id"].iloc[2]
    (run_dir(results, lost) / COMPLETE).unlink()
    before = _matrix(results, lost)
    again = run_experiment(no_progress, None, spec, results, scheduler=cluster.scheduler_address)
    assert (again.skipped, again.succeeded, again.failed) == (3, 1, 0)
    assert np.array_equal(_matrix(results, lost), before)
    shutil.rmtree(results)
