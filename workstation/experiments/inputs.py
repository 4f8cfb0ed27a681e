"""Reading a pair's inputs on a worker: volumes, landmark points, label maps, and their fingerprints.

Runs are identified by what they read, not by where it lies, so that a run id
stays the same when a cohort is moved or mounted elsewhere and changes when a
file's content does: ``fingerprint`` hashes content. Every reader raises a
``WorkstationError`` naming the file, which the worker records as the run's
one-line failure.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from workstation.errors import WorkstationError
from workstation.geometry import LPS_TO_RAS
from workstation.jobs import no_progress
from workstation.volume import Volume

_CHUNK = 1 << 20


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes, or of a folder's relative file names and bytes; ``missing`` if absent.

    A missing input still gets a stable fingerprint so the run it belongs to
    has a stable id and is recorded as failed rather than stopping the plan.
    """
    digest = hashlib.sha256()
    if path.is_file():
        _hash_file(path, digest)
    elif path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            _hash_file(item, digest)
    else:
        return "missing"
    return digest.hexdigest()


def _hash_file(path: Path, digest: hashlib._Hash) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)


def load_volume(path: Path, series_uid: str | None = None) -> Volume:
    """A DICOM folder (one series, or the one named) or an image file: ``workstation.opening.open_volume``."""
    from workstation.opening import open_volume  # the DICOM stack is only paid for by DICOM inputs
    from workstation.volume import sitk_array

    return open_volume(no_progress, None, path, series_uid, allocate=sitk_array)


def load_points(path: Path) -> tuple[list[str] | None, np.ndarray]:
    """Landmarks in LPS mm from CSV (x,y,z or name,x,y,z; header optional) or JSON.

    JSON may be a list of ``[x, y, z]``, a list of ``{"name", "position"}``,
    ``{"points": ...}``, or a 3D Slicer markups file (its RAS is turned into
    LPS). Names are returned when every point has one, so pairs can be
    matched by name instead of by order.
    """
    if not path.is_file():
        raise WorkstationError("landmark file not found", path=path)
    try:
        if path.suffix.lower() == ".json":
            names, points = _points_from_json(json.loads(path.read_text(encoding="utf-8")))
        else:
            names, points = _points_from_csv(path.read_text(encoding="utf-8"))
    except WorkstationError as exc:
        raise WorkstationError(exc.reason, path=path) from exc
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise WorkstationError(f"not a landmark file ({exc})", path=path) from exc
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0 or not np.all(np.isfinite(points)):
        raise WorkstationError("landmarks must be one or more finite x, y, z points", path=path)
    return names, points


def _points_from_csv(text: str) -> tuple[list[str] | None, np.ndarray]:
    rows = [r for r in csv.reader(text.splitlines()) if r and not r[0].lstrip().startswith("#")]
    rows = [[c.strip() for c in r] for r in rows]
    header = None
    if rows and not _is_number(rows[0][-1]):
        header = [c.lower() for c in rows.pop(0)]
    if header and {"x", "y", "z"} <= set(header):
        columns = [header.index(c) for c in ("x", "y", "z")]
        name_col = next((header.index(c) for c in ("name", "label", "id") if c in header), None)
    else:
        width = len(rows[0]) if rows else 3
        if width not in (3, 4):
            raise WorkstationError(f"expected x,y,z or name,x,y,z columns, got {width}")
        columns = [width - 3, width - 2, width - 1]
        name_col = 0 if width == 4 else None
    points = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float64)
    names = [r[name_col] for r in rows] if name_col is not None else None
    return names, points


def _points_from_json(data: object) -> tuple[list[str] | None, np.ndarray]:
    flip = False
    if isinstance(data, dict) and "markups" in data:  # 3D Slicer markups JSON
        markup = data["markups"][0]
        flip = str(markup.get("coordinateSystem", "LPS")).upper() == "RAS"
        data = [{"name": p.get("label"), "position": p["position"]} for p in markup["controlPoints"]]
    elif isinstance(data, dict):
        data = data.get("points", data.get("landmarks"))
    if not isinstance(data, list):
        raise WorkstationError("expected a list of points")
    names: list[str] | None = []
    coords = []
    for item in data:
        if isinstance(item, dict):
            coords.append(item.get("position", item.get("lps", item.get("point"))))
            name = item.get("name", item.get("label"))
            names = names + [str(name)] if names is not None and name is not None else None
        else:
            coords.append(item)
            names = None
    points = np.asarray(coords, dtype=np.float64)
    if flip:
        points = points * LPS_TO_RAS[:3, :3].diagonal()
    return names, points


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def paired_points(fixed_path: Path, moving_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Fixed and moving landmarks as matching rows: by name when both files name every point, else by order."""
    fixed_names, fixed = load_points(fixed_path)
    moving_names, moving = load_points(moving_path)
    if fixed_names and moving_names:
        common = [n for n in fixed_names if n in set(moving_names)]
        if len(common) != len(fixed_names) or len(common) != len(moving_names):
            raise WorkstationError("landmark names differ from those of the fixed landmarks", path=moving_path)
        order = [moving_names.index(n) for n in fixed_names]
        return fixed, moving[order]
    if len(fixed) != len(moving):
        raise WorkstationError(f"{len(moving)} landmarks, but the fixed file has {len(fixed)}", path=moving_path)
    return fixed, moving


def load_labels(path: Path) -> Volume:
    """A label map (an image file SimpleITK reads, a DICOM folder, or a DICOM SEG/RTSTRUCT) as an integer Volume."""
    from workstation.dicom.label_objects import object_kind, open_label_object

    if path.is_file() and object_kind(path):
        maps = open_label_object(no_progress, None, path)  # on the images beside it, or a SEG's own geometry
        if len(maps) > 1:
            raise WorkstationError("its segments overlap; a label map for Dice needs segments that do not", path=path)
        return maps[0].volume
    volume = load_volume(path)
    if not np.issubdtype(volume.array.dtype, np.integer):
        rounded = np.rint(volume.array)
        if not np.array_equal(rounded, volume.array):
            raise WorkstationError("a label map must hold whole numbers", path=path)
        volume.array = rounded.astype(np.int32)
    return volume
