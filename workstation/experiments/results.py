"""The results folder: one folder per run, a complete marker, and the tidy table of all runs.

Layout of ``RESULTS/``::

    experiment.json          the plan: experiment name, source file, run ids
    results.csv, results.parquet   one row per run of the plan (tidy)
    runs/<run_id>/
        task.json            inputs, fingerprints, preset, overrides, seed, threads: what replay repeats
        parameters.json      the resolved registration parameters
        transform.tfm        only for successful runs; transform.json (4x4 LPS and RAS) for linear ones
        result.json          the registration record and its evaluation
        metric_history.csv   level, iteration, value
        timing.json, versions.json
        status.json          status (ok/failed), one-line error, and the table row
        COMPLETE             written last and atomically, only for successful runs

Every file is written under a temporary name and renamed into place, and
``COMPLETE`` comes last: a run folder without it (a crash, a killed client,
a failed run) is simply run again by the next ``experiment run``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from registration import transforms
from workstation.errors import WorkstationError
from workstation.experiments.execute import RunOutcome
from workstation.experiments.plan import RunTask

COMPLETE = "COMPLETE"
RUNS = "runs"
SCORE_COLUMNS = ("tre_mean_mm", "tre_median_mm", "tre_max_mm", "tre_before_mm", "dice_mean", "dice_mean_before",
                 "mi_before", "mi_after", "ncc_before", "ncc_after")
"""The evaluation's numbers that go into the table (per-landmark TRE and per-label Dice stay in result.json)."""
TABLE_COLUMNS = [
    "experiment", "run_id", "pair", "preset", "variant", "seed", "threads", "init", "status", "error",
    *SCORE_COLUMNS, "start", "kept_start", "metric", "iterations", "register_seconds", "load_seconds",
    "total_seconds", "cpu_seconds", "worker", "finished", "overrides",
]


def run_dir(results: Path, run_id: str) -> Path:
    return results / RUNS / run_id


def is_complete(folder: Path) -> bool:
    """A run is finished when its marker exists; everything else in the folder may be a leftover."""
    return (folder / COMPLETE).is_file()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary sibling (same suffix) and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def table_row(outcome: RunOutcome) -> dict[str, Any]:
    """The run's row of the tidy table: identity, status, accuracy and time."""
    task, scores, result = outcome.task, outcome.evaluation, outcome.result
    return {
        "experiment": task.experiment, "run_id": task.run_id, "pair": task.pair.name, "preset": task.preset,
        "variant": task.variant, "seed": task.seed, "threads": task.threads, "init": task.init,
        "status": outcome.status, "error": outcome.error or "",
        **{key: scores.get(key, math.nan) for key in SCORE_COLUMNS},
        "start": result.get("init", ""), "kept_start": result.get("kept_start"),
        "metric": result.get("metric", math.nan),
        "iterations": result.get("iterations", math.nan),
        "register_seconds": outcome.timing.get("register_seconds"), "load_seconds": outcome.timing.get("load_seconds"),
        "total_seconds": outcome.timing.get("total_seconds"), "cpu_seconds": outcome.timing.get("cpu_seconds"),
        "worker": f"{outcome.worker.get('host', '?')}:{outcome.worker.get('pid', '?')}",
        "finished": outcome.timing.get("finished", ""),
        "overrides": json.dumps(task.overrides, sort_keys=True),
    }


def write_run(results: Path, outcome: RunOutcome) -> Path:
    """Record one outcome in its run folder; the complete marker goes last, for successful runs only."""
    folder = run_dir(results, outcome.task.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPLETE).unlink(missing_ok=True)
    write_json(folder / "task.json", outcome.task.to_dict())
    write_json(folder / "parameters.json", outcome.task.parameters)
    write_json(folder / "timing.json", {**outcome.timing, "worker": outcome.worker})
    write_json(folder / "versions.json", outcome.versions)
    if outcome.status == "ok":
        transforms.write_transform(outcome.transform, folder / "transform.tfm")
        if transforms.is_linear(outcome.transform):  # the JSON holds matrices, which a B-spline is not
            transforms.write_transform(outcome.transform, folder / "transform.json")
        write_json(folder / "result.json", {**outcome.result, "evaluation": outcome.evaluation})
        write_text(folder / "metric_history.csv", _history_csv(outcome.result.get("metric_history", [])))
    write_json(folder / "status.json", {"status": outcome.status, "error": outcome.error,
                                        "row": table_row(outcome)})
    if outcome.status == "ok":
        write_text(folder / COMPLETE, outcome.task.run_id + "\n")
    return folder


def _history_csv(history: list) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["level", "iteration", "value"])
    writer.writerows([[int(level), int(iteration), repr(float(value))] for level, iteration, value in history])
    return out.getvalue()


def read_history(folder: Path) -> pd.DataFrame:
    """A run's metric history (level, iteration, value); empty when the run has none."""
    path = folder / "metric_history.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["level", "iteration", "value"])
    return pd.read_csv(path)


def read_row(folder: Path) -> dict[str, Any] | None:
    """The recorded table row of a run folder, or None when nothing was recorded yet."""
    try:
        return json.loads((folder / "status.json").read_text(encoding="utf-8"))["row"]
    except (OSError, ValueError, KeyError):
        return None


def pending_row(task: RunTask) -> dict[str, Any]:
    """The row of a planned run that has not been recorded (e.g. cancelled before it ran)."""
    row = {column: math.nan for column in TABLE_COLUMNS}
    row.update(experiment=task.experiment, run_id=task.run_id, pair=task.pair.name, preset=task.preset,
               variant=task.variant, seed=task.seed, threads=task.threads, init=task.init, status="pending",
               error="", start="", kept_start=None, worker="", finished="",
               overrides=json.dumps(task.overrides, sort_keys=True))
    return row


def write_table(results: Path, tasks: list[RunTask]) -> pd.DataFrame:
    """``results.csv`` and ``results.parquet``: one row per planned run, in plan order."""
    rows = [read_row(run_dir(results, t.run_id)) or pending_row(t) for t in tasks]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    atomic_write(results / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write(results / "results.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return table


def read_table(results: Path) -> pd.DataFrame:
    """The tidy table of a results folder (Parquet, else CSV)."""
    if (results / "results.parquet").is_file():
        return pd.read_parquet(results / "results.parquet")
    if (results / "results.csv").is_file():
        return pd.read_csv(results / "results.csv", keep_default_na=False, na_values=[""])
    raise WorkstationError("no results table (results.parquet or results.csv): run the experiment first",
                           path=results)
