"""Replaying a recorded run and checking that it gives the very same transform, bit for bit.

A result is only evidence if it can be reproduced. A replay reads the run's
``task.json``, checks that every input still has the content it had (by
fingerprint), registers again in this process with the same parameters,
seed, thread count and initialisation through the code the worker ran
(``execute.load_inputs`` and ``register_task``), and compares the 4x4 and
every transform parameter exactly. Library versions that differ from the
recorded ones are reported, because they are the usual reason for a
mismatch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workstation.errors import WorkstationError
from workstation.experiments.execute import environment_versions, load_inputs, register_task, transform_numbers
from workstation.experiments.inputs import fingerprint
from workstation.experiments.plan import RunTask
from workstation.experiments.results import is_complete
from workstation.jobs import CancelFlag, Progress, check_cancel


@dataclass
class ReplayOutcome:
    """Recorded against replayed: ``identical`` only when the matrix and all parameters match bit for bit."""

    run_dir: Path
    identical: bool
    recorded_matrix: np.ndarray
    replayed_matrix: np.ndarray
    max_abs_difference: float
    seconds: float
    version_differences: dict[str, tuple[str, str]] = field(default_factory=dict)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkstationError(f"cannot read the run record ({exc})", path=path) from exc


def replay(progress: Progress, cancel: CancelFlag | None, run_dir: str | Path) -> ReplayOutcome:
    """Re-run the registration recorded in ``run_dir`` and compare its transform exactly."""
    folder = Path(run_dir)
    if not is_complete(folder):
        raise WorkstationError("not a finished run (no COMPLETE marker): nothing to replay", path=folder)
    task = RunTask.from_dict(_read_json(folder / "task.json"))
    recorded = _read_json(folder / "result.json")
    for role, path in task.pair.input_paths().items():
        check_cancel(cancel)
        if fingerprint(path) != task.fingerprints.get(role):
            raise WorkstationError(f"{role} input differs from the one the run used (content hash changed)",
                                   path=path)
    progress(0.1, f"replaying {task.run_id}: {task.pair.name} {task.preset} seed {task.seed}")
    clock = time.perf_counter()
    result = register_task(task, load_inputs(task))
    seconds = time.perf_counter() - clock
    replayed_matrix = np.asarray(result.matrix_lps, dtype=np.float64)
    recorded_matrix = np.asarray(recorded["matrix_lps"], dtype=np.float64)
    identical = (np.array_equal(recorded_matrix, replayed_matrix)
                 and transform_numbers(result.transform) == recorded["transform_numbers"])
    recorded_versions = _read_json(folder / "versions.json")
    now = environment_versions() | {k: str(v) for k, v in (result.versions or {}).items()}
    differences = {k: (recorded_versions[k], now[k]) for k in sorted(set(recorded_versions) & set(now))
                   if recorded_versions[k] != now[k]}
    progress(1.0, "identical" if identical else "different")
    return ReplayOutcome(run_dir=folder, identical=identical, recorded_matrix=recorded_matrix,
                         replayed_matrix=replayed_matrix,
                         max_abs_difference=float(np.max(np.abs(recorded_matrix - replayed_matrix))),
                         seconds=seconds, version_differences=differences)

