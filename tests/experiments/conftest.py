"""Fixtures for experiment tests: the example cohort made from the demo study, experiment files, a 2-worker cluster.

The cohort (``workstation.experiments.example``) is written once per
session: the demo study's CT and MR at 4 mm, so a registration takes about
a second, with landmarks and label maps from the phantom's definition.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from distributed import LocalCluster

from workstation.experiments import example
from workstation.jobs import no_progress

FAST = example.SHORT
"""Few iterations, no orientation search: these tests check the machinery; registration's tests check accuracy."""


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    example.write_example(no_progress, None, folder)
    return folder


@pytest.fixture
def pair_entry(pairs_dir: Path):
    """``pair_entry(name, moving="mr")``: an example pair with landmarks and labels, as absolute paths."""

    def entry(name: str, moving: str = "mr") -> dict:
        relative = example.pair_entry(name, moving)
        return {key: value if key == "name" else str(pairs_dir / value) for key, value in relative.items()}

    return entry


@pytest.fixture
def write_experiment():
    """``write_experiment(path, pairs, seeds=..., ...)``: an EXP.yaml with the fast override, as a user writes it."""

    def write(path: Path, pairs: list[dict], *, presets=("ct-mr-rigid",), seeds=(0,), overrides=None,
              **extra) -> Path:
        data = {"name": path.stem, "pairs": pairs, "presets": list(presets),
                "overrides": overrides or {"fast": FAST}, "seeds": list(seeds), **extra}
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def cluster():
    """A real 2-worker LocalCluster (processes, one thread each), as a user would start one for --scheduler."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as local:
        yield local
