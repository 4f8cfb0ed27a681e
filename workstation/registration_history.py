"""The history of a registration pair: every run and accepted transform, persisted as JSON per image pair.

Qt-free so that it is tested and read without a window: an entry is
``RegistrationResult.to_dict()`` plus the ``RunRequest`` that replays it, or
a manual transform; one is marked accepted. The file name is a hash of the
two series UIDs, never patient data. A run's fixed mask is kept beside the
history as a label map (``save_mask``, named by a hash of its voxels and
grid, written once and atomically), so a masked run replays with its mask.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from workstation.atomic import atomic_output
from workstation.errors import WorkstationError
from workstation.image_io import read_image, write_volume
from workstation.paths import data_dir
from workstation.volume import Volume

HISTORY_FORMAT = "workstation-registration-history/1"


def pair_id(fixed: Volume, moving: Volume, fixed_key: str, moving_key: str) -> str:
    """A file name for a pair: a hash of the two series UIDs (never patient data)."""
    text = f"{fixed.meta.series_uid or fixed_key}|{moving.meta.series_uid or moving_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def history_path(pair: str) -> Path:
    return data_dir() / "registrations" / f"{pair}.json"


def load_history(path: Path) -> list[dict[str, Any]]:
    """The stored runs of a pair; a missing file is an empty history, a damaged one an error naming it."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != HISTORY_FORMAT or not isinstance(data.get("runs"), list):
            raise ValueError("not a registration history")
        return data["runs"]
    except (OSError, ValueError, AttributeError) as exc:
        raise WorkstationError(f"registration history unreadable ({exc})", path) from exc


def save_history(path: Path, runs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": HISTORY_FORMAT, "runs": runs}, indent=1)
    with atomic_output(path, "registration history") as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def save_mask(history: Path, mask: Volume) -> str:
    """Keep a run's mask beside ``history`` (a gzipped NRRD, written once per content); its file name."""
    digest = hashlib.sha256(np.ascontiguousarray(mask.array, dtype=np.uint8).tobytes())
    digest.update(np.asarray(mask.affine, dtype=np.float64).tobytes())
    path = history.parent / f"{history.stem}-mask-{digest.hexdigest()[:20]}.nrrd"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_volume(mask, path)
    return path.name


def load_mask(history: Path, name: str) -> Volume:
    """A mask ``save_mask`` kept beside ``history``; an error naming the file when it is gone or damaged."""
    path = history.parent / Path(name).name  # only beside the history, whatever the entry says
    if not path.is_file():
        raise WorkstationError("the run's registration mask is missing: the run cannot be replayed as it was", path)
    return read_image(path)


def describe_matrix(matrix: np.ndarray) -> str:
    """'shift 4.0 mm, turn 7.1 deg': how far a fixed->moving matrix is from identity, for a label."""
    m = np.asarray(matrix)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(m[:3, :3]) - 1) / 2))))
    shift = m[:3, 3]
    return f"shift ({shift[0]:.1f}, {shift[1]:.1f}, {shift[2]:.1f}) mm, turn {angle:.1f} deg"


def history_label(entry: dict[str, Any]) -> str:
    when = entry.get("created", "")[11:19]
    mark = " (accepted)" if entry.get("accepted") else ""
    if entry.get("kind") == "manual":
        return f"{when} manual: {describe_matrix(np.asarray(entry['matrix_lps']))}{mark}"
    return (f"{when} {entry['parameters']['name']}: metric {entry['metric']:.4f}, {entry['seconds']:.1f} s, "
            f"{entry['init']}{mark}")


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")
