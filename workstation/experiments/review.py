"""A finished run of ``workstation experiment run``, read back so the viewer can show it for review.

Why: a researcher checks a batch by looking at its runs, not only at the
table. A run folder (``results.py`` lays it out) names its inputs in
``task.json``; the transform it found is in ``result.json`` (fixed -> moving,
LPS); the landmarks are read from the pair's own files, paired as the run
paired them; the errors the run measured and its metric history come from
the folder. The viewer fuses the moving image through the transform and
shows both sets of landmarks with the error of each, and the pair's moving
label map (the one the run's Dice came from) when it lies on the moving
image's grid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workstation.errors import WorkstationError
from workstation.experiments.inputs import load_labels, load_volume, paired_points
from workstation.experiments.plan import RunTask
from workstation.experiments.results import read_history
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap
from workstation.opening import label_map_on
from workstation.volume import Volume


@dataclass
class RunReview:
    """What the viewer shows of one run."""

    folder: Path
    title: str                       # pair, preset, variant, seed
    fixed: Volume
    moving: Volume
    matrix: np.ndarray               # fixed -> moving, LPS (ITK convention)
    fixed_points: np.ndarray | None  # LPS, fixed frame
    moving_points: np.ndarray | None  # LPS, moving frame, paired row by row
    errors_mm: list[float]           # per landmark, as the run measured them (result.json)
    history: pd.DataFrame            # level, iteration, value
    moving_labels: LabelMap | None = None  # the pair's moving label map, on the moving image's grid
    notes: list[str] = field(default_factory=list)  # what could not be shown, one line each


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / "task.json").is_file() and (path / "status.json").is_file()


def read_run(progress: Progress, cancel: CancelFlag | None, folder: str | Path) -> RunReview:
    """Job: the run's images, transform, landmarks, errors and history; one-line error for a failed run."""
    folder = Path(folder)
    try:
        task = RunTask.from_dict(json.loads((folder / "task.json").read_text(encoding="utf-8")))
        status = json.loads((folder / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkstationError(f"not a readable run folder ({exc})", folder) from exc
    if status.get("status") != "ok":
        raise WorkstationError(f"the run did not succeed ({status.get('error') or status.get('status')})", folder)
    result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    matrix = np.asarray(result["matrix_lps"], dtype=np.float64)
    pair = task.pair
    progress(0.05, "reading the fixed image")
    fixed = load_volume(pair.fixed, pair.fixed_series)
    check_cancel(cancel)
    progress(0.5, "reading the moving image")
    moving = load_volume(pair.moving, pair.moving_series)
    check_cancel(cancel)
    fixed_points = moving_points = None
    if pair.fixed_landmarks is not None and pair.moving_landmarks is not None:
        fixed_points, moving_points = paired_points(pair.fixed_landmarks, pair.moving_landmarks)
    moving_labels, notes = None, []
    if pair.moving_labels is not None:
        try:
            moving_labels = label_map_on(load_labels(pair.moving_labels), moving, pair.moving_labels)
        except WorkstationError as exc:  # the run is still worth seeing without them
            notes.append(f"moving labels not shown: {exc}")
    title = " ".join(str(x) for x in (pair.name, task.preset, task.variant or "", f"seed {task.seed}") if x)
    progress(1.0, "run read")
    return RunReview(folder, title, fixed, moving, matrix, fixed_points, moving_points,
                     list(result.get("evaluation", {}).get("tre_mm", [])), read_history(folder), moving_labels, notes)
