"""``workstation experiment run|report|replay`` end to end, as separate processes, against a running scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml


def _workstation(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workstation", "experiment", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_run_report_replay_on_an_existing_scheduler(tmp_path: Path, cluster, pair_entry, write_experiment) -> None:
    spec = write_experiment(tmp_path / "cli.yaml", [pair_entry("head")], seeds=[0, 1])
    results = tmp_path / "out"

    run = _workstation("run", str(spec), "--scheduler", cluster.scheduler_address, "-o", str(results))
    assert run.returncode == 0, run.stderr
    assert "2 runs: 0 already finished, 2 succeeded, 0 failed" in run.stdout
    table = pd.read_parquet(results / "results.parquet")
    assert table[["pair", "preset", "seed", "status"]].values.tolist() == [
        ["head", "ct-mr-rigid", 0, "ok"], ["head", "ct-mr-rigid", 1, "ok"]]
    for run_id in table["run_id"]:  # each run's own record, written by the worker
        assert json.loads((results / "runs" / run_id / "result.json").read_text())["matrix_lps"]

    rerun = _workstation("run", str(spec), "--scheduler", cluster.scheduler_address, "-o", str(results))
    assert rerun.returncode == 0 and "2 runs: 2 already finished, 0 succeeded" in rerun.stdout

    report = _workstation("report", str(results))
    assert report.returncode == 0, report.stderr
    assert "ct-mr-rigid" in report.stdout and f"wrote {results / 'convergence.png'}" in report.stdout

    replayed = _workstation("replay", str(results / "runs" / table["run_id"].iloc[1]))
    assert replayed.returncode == 0, replayed.stderr
    assert "transform identical" in replayed.stdout


def test_bad_experiment_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"pairs": [{"fixed": "a.nii"}], "presets": ["ct-mr-rigid"]}), encoding="utf-8")
    run = _workstation("run", str(spec), "--workers", "1", "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert run.stderr.strip() == f"workstation experiment: {spec}: pairs[0].moving: required: an image file or a " \
                                 "DICOM folder"
    assert not (tmp_path / "out").exists()  # nothing started


def test_unreachable_scheduler_is_one_line(tmp_path: Path, pair_entry, write_experiment) -> None:
    spec = write_experiment(tmp_path / "x.yaml", [pair_entry("head")])
    run = _workstation("run", str(spec), "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "out"),
                       env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert run.returncode == 2
    line = run.stderr.strip().splitlines()[-1]
    assert line.startswith("workstation experiment: tcp://127.0.0.1:9: cannot connect to the dask scheduler")
