"""One run on a worker: load the pair, register, evaluate, and hand back everything to record.

The worker writes nothing: it returns a ``RunOutcome`` and the client records
it. So a cluster needs to reach the inputs but not the results folder, and a
worker killed half way leaves no half-written run behind. ``execute`` never
raises: whatever goes wrong becomes a failed outcome with a one-line error,
so one bad pair does not stop a batch. Replay calls the same
``load_inputs`` and ``register_task`` so that it repeats exactly what the
worker did.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import numpy as np
import SimpleITK as sitk

from registration import evaluation
from registration.parameters import RegistrationParameters
from registration.resample import resample_to
from registration.runner import RegistrationResult, register
from workstation.errors import WorkstationError
from workstation.experiments.inputs import load_labels, load_volume, paired_points
from workstation.experiments.plan import RunTask
from workstation.volume import Volume


@dataclass
class RunInputs:
    """A pair's volumes and optional evaluation data, as loaded for one run."""

    fixed: Volume
    moving: Volume
    fixed_points: np.ndarray | None = None
    moving_points: np.ndarray | None = None
    fixed_labels: Volume | None = None
    moving_labels: Volume | None = None


@dataclass
class RunOutcome:
    """What a worker sends back: the task, how it ended, and the records of a successful run."""

    task: RunTask
    status: str                      # "ok" or "failed"
    error: str | None = None         # one line when failed
    result: dict[str, Any] = field(default_factory=dict)      # RegistrationResult.to_dict()
    transform: sitk.Transform | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)  # TRE, Dice, MI/NCC before and after
    timing: dict[str, Any] = field(default_factory=dict)
    worker: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def one_line(exc: BaseException) -> str:
    """A failure as one line: a WorkstationError's own message, else the type and the first line."""
    if isinstance(exc, WorkstationError):
        return str(exc)
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"


def transform_numbers(transform: sitk.Transform) -> list[dict[str, Any]]:
    """Every parameter of a transform (each part of a composite), for bit-for-bit comparison after JSON."""
    parts = [transform]
    if transform.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(transform)
        parts = [composite.GetNthTransform(n) for n in range(composite.GetNumberOfTransforms())]
    return [{"type": p.GetName(), "parameters": list(p.GetParameters()),
             "fixed_parameters": list(p.GetFixedParameters())} for p in parts]


def load_inputs(task: RunTask) -> RunInputs:
    """Read every input of the task's pair; a missing or unreadable file raises naming that file."""
    pair = task.pair
    inputs = RunInputs(fixed=load_volume(pair.fixed, pair.fixed_series),
                       moving=load_volume(pair.moving, pair.moving_series))
    if pair.fixed_landmarks is not None and pair.moving_landmarks is not None:
        inputs.fixed_points, inputs.moving_points = paired_points(pair.fixed_landmarks, pair.moving_landmarks)
    if pair.fixed_labels is not None and pair.moving_labels is not None:
        inputs.fixed_labels = load_labels(pair.fixed_labels)
        inputs.moving_labels = load_labels(pair.moving_labels)
    return inputs


def register_task(task: RunTask, inputs: RunInputs) -> RegistrationResult:
    """Register exactly as the task says: its parameters, seed, thread count and initialisation.

    SimpleITK's process-wide thread count is pinned as well as the runner's:
    measured here, with only the registration methods pinned, two runs with
    the same seed and threads in one process differed in the last bits (a
    multi-threaded filter in the run reduces in a varying order), and with
    it pinned they are identical. It also keeps a worker per core from
    oversubscribing the machine. Landmarks drive the registration only for
    presets that register by landmarks; otherwise they are held out for the
    TRE, so accuracy is never measured on the points that made the result.
    """
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(task.threads)
    params = RegistrationParameters.from_dict(task.parameters)
    landmarks = {}
    if inputs.fixed_points is not None and params.method == "landmarks":
        landmarks = {"fixed_landmarks": inputs.fixed_points, "moving_landmarks": inputs.moving_points}
    return register(inputs.fixed, inputs.moving, params, init=task.init, seed=task.seed, threads=task.threads,
                    **landmarks)


def evaluate(inputs: RunInputs, result: RegistrationResult) -> dict[str, Any]:
    """Accuracy of a run: TRE over the landmarks, Dice of the label maps, MI and NCC; before and after.

    "Before" is the moving image where the scanner put it (identity), the
    baseline a registration has to beat.
    """
    scores: dict[str, Any] = {}
    if inputs.fixed_points is not None:
        distances = evaluation.tre(result.transform, inputs.fixed_points, inputs.moving_points)
        before = evaluation.tre(np.eye(4), inputs.fixed_points, inputs.moving_points)
        mapped = evaluation.transform_points(result.transform, inputs.fixed_points)
        scores.update(tre_mean_mm=distances.mean, tre_median_mm=distances.median, tre_max_mm=distances.max,
                      tre_before_mm=before.mean,
                      tre_mm=np.linalg.norm(mapped - inputs.moving_points, axis=1).tolist())
    if inputs.fixed_labels is not None and inputs.moving_labels is not None:
        for when, transform in (("before", sitk.Transform()), ("after", result.transform)):
            placed = resample_to(inputs.fixed_labels, inputs.moving_labels, transform,
                                 interpolator=sitk.sitkNearestNeighbor, default_value=0)
            dice = evaluation.dice(inputs.fixed_labels, placed)
            scores[f"dice_{when}"] = {str(label): value for label, value in dice.items()}
            scores["dice_mean" if when == "after" else "dice_mean_before"] = float(np.nanmean(list(dice.values())))
    similarity = evaluation.before_after(inputs.fixed, inputs.moving, result.transform)
    scores.update(mi_before=similarity.mi_before, mi_after=similarity.mi_after, ncc_before=similarity.ncc_before,
                  ncc_after=similarity.ncc_after)
    return scores


def environment_versions() -> dict[str, str]:
    """Versions that could change a result, recorded with every run."""
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "SimpleITK": sitk.Version_VersionString(), "platform": platform.platform()}
    for package in ("workstation", "dask", "distributed"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def execute(task: RunTask) -> RunOutcome:
    """The dask task: run ``task`` and return its outcome; never raises."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock, cpu = time.perf_counter(), time.process_time()
    outcome = RunOutcome(task=task, status="failed",
                         worker={"host": socket.gethostname(), "pid": os.getpid()},
                         versions=environment_versions())
    marks = {"load_seconds": None, "register_seconds": None, "evaluate_seconds": None}
    try:
        inputs = load_inputs(task)
        marks["load_seconds"] = time.perf_counter() - clock
        result = register_task(task, inputs)
        marks["register_seconds"] = time.perf_counter() - clock - marks["load_seconds"]
        outcome.result = {**result.to_dict(), "transform_numbers": transform_numbers(result.transform)}
        outcome.transform = result.transform
        outcome.versions.update({k: str(v) for k, v in (result.versions or {}).items()})
        outcome.evaluation = evaluate(inputs, result)
        marks["evaluate_seconds"] = time.perf_counter() - clock - marks["load_seconds"] - marks["register_seconds"]
        outcome.status = "ok"
    except Exception as exc:  # noqa: BLE001 - a failed run is data, not a crash of the batch
        outcome.error = one_line(exc)
    # CPU seconds of the worker process next to wall seconds: far below means the run waited for a core
    # (an oversubscribed machine), far above means it used more threads than it was given.
    outcome.timing = {**marks, "total_seconds": time.perf_counter() - clock,
                      "cpu_seconds": time.process_time() - cpu, "started": started,
                      "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    return outcome
