"""Every combination of pair, preset, variant and seed as a task with a stable run id.

The run id is a hash of what decides the outcome: the content of every input
file, the resolved registration parameters, the seed, the thread count and
the initialisation (plus the names of the cell: pair, preset, variant). So a
re-run recognises its finished runs wherever the results folder or the data
now lie, and a changed input or parameter makes a new run instead of
silently reusing an old one.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from registration.parameters import RegistrationParameters, list_presets, load_preset
from workstation.errors import WorkstationError
from workstation.experiments.inputs import fingerprint
from workstation.experiments.spec import ExperimentSpec, PairSpec

RUN_ID_LENGTH = 16
"""Hex digits of the SHA-256 kept: 64 bits, no collision in any realistic experiment."""


@dataclass(frozen=True)
class RunTask:
    """One registration to run: everything a worker (or a replay) needs, picklable and JSON-able."""

    run_id: str
    experiment: str
    pair: PairSpec
    preset: str
    variant: str
    overrides: dict[str, Any]
    parameters: dict[str, Any]
    seed: int
    threads: int
    init: str
    fingerprints: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["pair"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in data["pair"].items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunTask:
        pair = {k: (Path(v) if v is not None and k not in ("name", "fixed_series", "moving_series") else v)
                for k, v in data["pair"].items()}
        return cls(**{**data, "pair": PairSpec(**pair)})


def apply_overrides(parameters: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``parameters`` with each dotted path set; a path must name an existing field.

    A list is indexed by number (``levels.0.iterations``) or ``*`` for every
    element (``levels.*.iterations``). Refusing unknown paths catches typos
    (``optimiser.kind``) that would otherwise run a whole batch with the
    preset's value.
    """
    result = copy.deepcopy(parameters)
    for dotted, value in overrides.items():
        _set_path(result, dotted.split("."), 0, value)
    return result


def _set_path(node: Any, parts: list[str], depth: int, value: Any) -> None:
    part = parts[depth]
    if isinstance(node, list) and part == "*":
        keys: list[Any] = list(range(len(node)))
    elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
        keys = [int(part)]
    elif isinstance(node, dict) and part in node:
        keys = [part]
    else:
        where = ".".join(parts[:depth]) or "the parameters"
        known = ", ".join(sorted(map(str, node))) if isinstance(node, dict) else f"{len(node)} items" \
            if isinstance(node, list) else "none, it is a value"
        raise KeyError(f"{'.'.join(parts[:depth + 1])!r} does not exist (fields of {where}: {known})")
    for key in keys:
        if depth == len(parts) - 1:
            node[key] = copy.deepcopy(value)
        else:
            _set_path(node[key], parts, depth + 1, value)


def resolve_parameters(spec: ExperimentSpec, preset: str, variant: str) -> dict[str, Any]:
    """The preset with the variant's overrides, validated by the registration parameters themselves."""
    try:
        base = load_preset(preset).to_dict()
    except Exception as exc:  # noqa: BLE001 - any failure to load is a bad preset name for the user
        raise spec.error("presets", f"unknown preset {preset!r} (known: {', '.join(list_presets())})") from exc
    try:
        merged = apply_overrides(base, spec.overrides[variant])
        return RegistrationParameters.from_dict(merged).to_dict()
    except (KeyError, TypeError, ValueError, WorkstationError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else getattr(exc, "reason", exc)
        raise spec.error(f"overrides.{variant}", f"preset {preset}: {reason}") from exc


def run_id_of(fingerprints: dict[str, str], pair: PairSpec, preset: str, variant: str,
              parameters: dict[str, Any], seed: int, threads: int, init: str) -> str:
    """The hash naming a run: inputs by content, resolved parameters, seed, threads, initialisation.

    The pair, preset and variant names are part of it so that two cells of
    the experiment never share a run folder, even when their inputs or
    parameters happen to coincide.
    """
    identity = {
        "inputs": fingerprints,
        "series": {"fixed": pair.fixed_series, "moving": pair.moving_series},
        "names": [pair.name, preset, variant],
        "parameters": parameters,
        "seed": seed,
        "threads": threads,
        "init": init,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:RUN_ID_LENGTH]


def plan_experiment(spec: ExperimentSpec) -> list[RunTask]:
    """All runs of the experiment, pair-major, in a stable order; raises SpecError on bad presets or overrides."""
    parameters = {(p, v): resolve_parameters(spec, p, v) for p in spec.presets for v in spec.overrides}
    hashes: dict[Path, str] = {}
    tasks: list[RunTask] = []
    for pair in spec.pairs:
        prints = {role: hashes.setdefault(path, fingerprint(path)) for role, path in pair.input_paths().items()}
        for preset in spec.presets:
            for variant, overrides in spec.overrides.items():
                params = parameters[preset, variant]
                for seed in spec.seeds:
                    run_id = run_id_of(prints, pair, preset, variant, params, seed, spec.threads, spec.init)
                    tasks.append(RunTask(run_id=run_id, experiment=spec.name, pair=pair, preset=preset,
                                         variant=variant, overrides=dict(overrides), parameters=params, seed=seed,
                                         threads=spec.threads, init=spec.init, fingerprints=prints))
    return tasks
