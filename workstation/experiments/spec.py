"""The experiment file (EXP.yaml): what to register, with which presets, overrides and seeds.

It exists so that a researcher describes a batch as data instead of a script,
and so that every mistake in that description stops the run before any work
starts, with one line naming the file and the field. Input files are not
checked for existence here: a missing image is a failed run, recorded in the
results like any other failure, so that one bad pair never sinks a cohort.

Schema (paths are relative to the experiment file)::

    name: demo-presets            # optional, default: the file's stem
    pairs:                        # required, at least one
      - name: head                # optional, default pair1, pair2, ...; unique
        fixed: ct.nii.gz          # required: an image file or a DICOM folder
        moving: mr/               # required
        fixed_series: 1.2.3       # optional: the series to load from a DICOM folder
        moving_series: 1.2.4
        fixed_landmarks: ct.csv   # optional, both or neither: points in LPS mm (CSV or JSON)
        moving_landmarks: mr.csv
        fixed_labels: ct_seg.nii.gz   # optional, both or neither: label maps for Dice
        moving_labels: mr_seg.nii.gz
    presets: [ct-mr-rigid]        # required, at least one
    overrides:                    # optional, default {default: {}}
      default: {}
      short: {levels.*.iterations: 20, metric.bins: 24}   # dotted paths; a list takes an index or *
    seeds: [0, 1]                 # optional, default [0]
    threads: 1                    # optional, default 1: SimpleITK threads per task
    init: auto                    # optional, default auto: the runner's initialisation
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workstation.errors import WorkstationError

_TOP_KEYS = {"name", "pairs", "presets", "overrides", "seeds", "threads", "init"}
_PAIR_PATHS = ("fixed", "moving", "fixed_landmarks", "moving_landmarks", "fixed_labels", "moving_labels")
_PAIR_KEYS = {"name", "fixed_series", "moving_series", *_PAIR_PATHS}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|\*)$")  # a field, a list index, or * for every item


class SpecError(WorkstationError):
    """The experiment file is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class PairSpec:
    """One fixed/moving pair with its optional evaluation data (absolute paths)."""

    name: str
    fixed: Path
    moving: Path
    fixed_series: str | None = None
    moving_series: str | None = None
    fixed_landmarks: Path | None = None
    moving_landmarks: Path | None = None
    fixed_labels: Path | None = None
    moving_labels: Path | None = None

    def input_paths(self) -> dict[str, Path]:
        """Every file this pair reads, by role; the roles name the fields of the experiment file."""
        return {role: getattr(self, role) for role in _PAIR_PATHS if getattr(self, role) is not None}


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment file."""

    source: Path
    name: str
    pairs: tuple[PairSpec, ...]
    presets: tuple[str, ...]
    overrides: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    seeds: tuple[int, ...] = (0,)
    threads: int = 1
    init: str = "auto"

    def error(self, field_path: str, reason: str) -> SpecError:
        """A one-line error about ``field_path`` of this experiment file."""
        return SpecError(f"{field_path}: {reason}", path=self.source)


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file; raise ``SpecError`` naming the file and field."""
    source = Path(path).resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the experiment file ({exc.strerror or exc})", path=source) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}", path=source) from exc
    return parse_spec(data, source)


def parse_spec(data: Any, source: Path) -> ExperimentSpec:
    """Validate an already-parsed experiment mapping; ``source`` anchors relative paths and errors."""

    def fail(field_path: str, reason: str) -> SpecError:
        return SpecError(f"{field_path}: {reason}", path=source)

    if not isinstance(data, dict):
        raise fail("(top level)", "must be a mapping with pairs and presets")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise fail(str(unknown[0]), f"unknown field (expected one of {', '.join(sorted(_TOP_KEYS))})")
    name = data.get("name", source.stem)
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "must be a non-empty string")
    pairs = _parse_pairs(data.get("pairs"), source.parent, fail)
    presets = _parse_names(data.get("presets"), "presets", fail)
    overrides = _parse_overrides(data.get("overrides", {"default": {}}), fail)
    seeds = _parse_seeds(data.get("seeds", [0]), fail)
    threads = data.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise fail("threads", f"must be a positive integer, got {threads!r}")
    init = data.get("init", "auto")
    if not isinstance(init, str) or not init:
        raise fail("init", f"must be a string such as 'auto', got {init!r}")
    return ExperimentSpec(source=source, name=name.strip(), pairs=pairs, presets=presets, overrides=overrides,
                          seeds=seeds, threads=threads, init=init)


def _parse_pairs(value: Any, base: Path, fail) -> tuple[PairSpec, ...]:
    if not isinstance(value, list) or not value:
        raise fail("pairs", "must be a non-empty list of {fixed, moving, ...} mappings")
    pairs: list[PairSpec] = []
    for n, item in enumerate(value):
        where = f"pairs[{n}]"
        if not isinstance(item, dict):
            raise fail(where, "must be a mapping with fixed and moving")
        unknown = sorted(set(item) - _PAIR_KEYS)
        if unknown:
            raise fail(f"{where}.{unknown[0]}", f"unknown field (expected one of {', '.join(sorted(_PAIR_KEYS))})")
        name = item.get("name", f"pair{n + 1}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail(f"{where}.name", f"must be letters, digits, '_', '.' or '-', got {name!r}")
        if any(p.name == name for p in pairs):
            raise fail(f"{where}.name", f"duplicate pair name {name!r}")
        paths: dict[str, Path | None] = {}
        for role in _PAIR_PATHS:
            raw = item.get(role)
            if raw is None:
                if role in ("fixed", "moving"):
                    raise fail(f"{where}.{role}", "required: an image file or a DICOM folder")
                paths[role] = None
            elif not isinstance(raw, str) or not raw.strip():
                raise fail(f"{where}.{role}", f"must be a path, got {raw!r}")
            else:
                paths[role] = (base / Path(raw).expanduser()).resolve()
        for kind in ("landmarks", "labels"):
            if (paths[f"fixed_{kind}"] is None) != (paths[f"moving_{kind}"] is None):
                missing = "fixed" if paths[f"fixed_{kind}"] is None else "moving"
                raise fail(f"{where}.{missing}_{kind}", f"required when the other {kind} file is given")
        series = {}
        for role in ("fixed_series", "moving_series"):
            raw = item.get(role)
            if raw is not None and (not isinstance(raw, str | int) or isinstance(raw, bool)):
                raise fail(f"{where}.{role}", f"must be a series instance UID, got {raw!r}")
            series[role] = None if raw is None else str(raw)
        pairs.append(PairSpec(name=name, **paths, **series))  # type: ignore[arg-type]
    return tuple(pairs)


def _parse_names(value: Any, field_path: str, fail) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail(field_path, "must be a non-empty list of preset names")
    for n, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise fail(f"{field_path}[{n}]", f"must be a preset name, got {item!r}")
    if len(set(value)) != len(value):
        raise fail(field_path, "lists a preset twice")
    return tuple(v.strip() for v in value)


def _parse_overrides(value: Any, fail) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not value:
        raise fail("overrides", "must map variant names to {dotted.parameter: value} mappings")
    variants: dict[str, dict[str, Any]] = {}
    for variant, settings in value.items():
        if not isinstance(variant, str) or not _NAME.match(variant):
            raise fail("overrides", f"variant name must be letters, digits, '_', '.' or '-', got {variant!r}")
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise fail(f"overrides.{variant}", "must map dotted parameter paths to values")
        for key in settings:
            if not isinstance(key, str) or not all(_PATH_PART.match(part) for part in key.split(".")):
                raise fail(f"overrides.{variant}", f"{key!r} is not a dotted parameter path like metric.bins "
                           "or levels.*.iterations")
        variants[variant] = dict(settings)
    return variants


def _parse_seeds(value: Any, fail) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise fail("seeds", "must be a non-empty list of integers")
    for n, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise fail(f"seeds[{n}]", f"must be a non-negative integer, got {seed!r}")
    if len(set(value)) != len(value):
        raise fail("seeds", "lists a seed twice")
    return tuple(value)
