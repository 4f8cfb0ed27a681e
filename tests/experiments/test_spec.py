"""The experiment file's validation and the plan's stable run ids (no cluster needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from registration.parameters import load_preset
from workstation.experiments.plan import apply_overrides, plan_experiment
from workstation.experiments.spec import SpecError, load_spec


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _minimal(**extra) -> dict:
    return {"pairs": [{"fixed": "ct.nii.gz", "moving": "mr.nii.gz"}], "presets": ["ct-mr-rigid"], **extra}


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path / "cohort.yaml", _minimal()))
    assert spec.name == "cohort"
    assert spec.seeds == (0,) and spec.threads == 1 and spec.init == "auto"
    assert spec.overrides == {"default": {}}
    assert spec.pairs[0].name == "pair1"
    assert spec.pairs[0].fixed == tmp_path / "ct.nii.gz"  # relative to the experiment file, not the cwd
    assert spec.pairs[0].fixed_landmarks is None


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"presets": ["ct-mr-rigid"]}, "pairs", "non-empty list"),
    (_minimal(pairs=[{"fixed": "a.nii"}]), "pairs[0].moving", "required"),
    (_minimal(pairs=[{"fixed": "a", "moving": "b", "fixed_landmarks": "p.csv"}]), "pairs[0].moving_landmarks",
     "required when"),
    (_minimal(pairs=[{"fixed": "a", "moving": "b", "movng_labels": "l"}]), "pairs[0].movng_labels", "unknown field"),
    (_minimal(pairs=[{"name": "x", "fixed": "a", "moving": "b"}, {"name": "x", "fixed": "a", "moving": "c"}]),
     "pairs[1].name", "duplicate"),
    (_minimal(seeds=[1, "two"]), "seeds[1]", "non-negative integer"),
    (_minimal(threads=0), "threads", "positive integer"),
    (_minimal(overrides={"fast": ["levels.0.iterations", 3]}), "overrides.fast", "dotted parameter paths"),
    (_minimal(presets=[]), "presets", "non-empty"),
    (_minimal(sedes=[1]), "sedes", "unknown field"),
])
def test_validation_errors_name_the_file_and_field(tmp_path: Path, data: dict, field: str, reason: str) -> None:
    path = _write(tmp_path / "bad.yaml", data)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert reason in message and "\n" not in message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.yaml", "pairs:\n  - fixed: a\n   moving: [b\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML at line \d+"):
        load_spec(path)


def test_unknown_preset_and_override_paths_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"presets: unknown preset 'ct-mr-rigidd' \(known: .*ct-mr-rigid"):
        plan_experiment(load_spec(_write(tmp_path / "a.yaml", _minimal(presets=["ct-mr-rigidd"]))))
    typo = _minimal(overrides={"fast": {"optimiser.kind": "lbfgsb"}})
    with pytest.raises(SpecError, match=r"overrides\.fast: preset ct-mr-rigid: 'optimiser' does not exist"):
        plan_experiment(load_spec(_write(tmp_path / "b.yaml", typo)))


def test_overrides_set_dotted_paths_and_every_level() -> None:
    base = load_preset("ct-mr-rigid").to_dict()
    changed = apply_overrides(base, {"levels.*.iterations": 7, "metric.bins": 16, "levels.0.smoothing_mm": 9.0})
    assert [level["iterations"] for level in changed["levels"]] == [7] * len(base["levels"])
    assert changed["metric"]["bins"] == 16 and changed["levels"][0]["smoothing_mm"] == 9.0
    assert base["metric"]["bins"] != 16 or base != changed  # the preset itself is untouched
    assert load_preset("ct-mr-rigid").to_dict() == base


def _cohort(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ct.nii.gz").write_bytes(b"fixed image bytes")
    (folder / "mr.nii.gz").write_bytes(b"moving image bytes")
    return _write(folder / "exp.yaml", _minimal(seeds=[0, 1], overrides={"default": {}, "short": {
        "levels.*.iterations": 5}}))


def test_plan_covers_every_combination_with_stable_ids(tmp_path: Path) -> None:
    tasks = plan_experiment(load_spec(_cohort(tmp_path / "a")))
    assert [(t.variant, t.seed) for t in tasks] == [("default", 0), ("default", 1), ("short", 0), ("short", 1)]
    assert len({t.run_id for t in tasks}) == 4
    assert all(t.parameters["levels"][0]["iterations"] == 5 for t in tasks if t.variant == "short")
    # Moving the whole cohort elsewhere keeps the ids: they hash content, not paths.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert [t.run_id for t in plan_experiment(load_spec(tmp_path / "b" / "exp.yaml"))] == [t.run_id for t in tasks]
    # Changing an input's content changes every id of that pair.
    (tmp_path / "b" / "mr.nii.gz").write_bytes(b"other moving bytes")
    changed = plan_experiment(load_spec(tmp_path / "b" / "exp.yaml"))
    assert not {t.run_id for t in changed} & {t.run_id for t in tasks}


def test_missing_inputs_are_planned_not_refused(tmp_path: Path) -> None:
    tasks = plan_experiment(load_spec(_write(tmp_path / "exp.yaml", _minimal())))
    assert tasks[0].fingerprints == {"fixed": "missing", "moving": "missing"}
