"""Registration parameters: presets are data, and every object survives JSON unchanged."""

from __future__ import annotations

import json

import pytest

from registration.parameters import LevelSettings, RegistrationParameters, list_presets, load_preset
from workstation.errors import RegistrationError

PRESETS = ["bspline-deformable", "ct-mr-rigid", "landmark-rigid", "mr-mr-rigid", "multimodal-affine"]


def test_the_five_presets_are_listed_and_display_presets_are_not() -> None:
    assert list_presets() == PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips_through_dict_and_json(name: str) -> None:
    params = load_preset(name)
    assert params.name == name
    assert RegistrationParameters.from_dict(params.to_dict()) == params
    again = RegistrationParameters.from_json(params.to_json())
    assert again == params
    assert isinstance(again.levels[0] if again.levels else LevelSettings(1.0), LevelSettings)
    assert json.loads(again.to_json()) == params.to_dict()


def test_presets_say_what_the_issue_asks_for() -> None:
    ct_mr = load_preset("ct-mr-rigid")
    assert (ct_mr.metric.kind, ct_mr.transform.kind, ct_mr.search.enabled) == ("mattes", "rigid", True)
    assert [level.spacing_mm for level in ct_mr.levels] == sorted((lv.spacing_mm for lv in ct_mr.levels), reverse=True)
    spline = load_preset("bspline-deformable")
    grids = [level.grid_spacing_mm for level in spline.levels]
    assert spline.transform.kind == "bspline" and grids == sorted(grids, reverse=True) and len(grids) > 1
    assert 0 < spline.transform.max_coefficient_fraction <= 0.4
    assert load_preset("landmark-rigid").method == "landmarks"
    assert load_preset("multimodal-affine").transform.kind == "affine"


def test_a_changed_setting_survives_the_round_trip() -> None:
    params = load_preset("mr-mr-rigid")
    params.levels[1].iterations = 7
    params.optimizer.scales = [1000.0, 1000.0, 1000.0, 1.0, 1.0, 1.0]
    params.search.keep = 5
    again = RegistrationParameters.from_json(params.to_json())
    assert again.levels[1].iterations == 7 and again.optimizer.scales[0] == 1000.0 and again.search.keep == 5


def test_a_misspelt_setting_is_an_error_naming_it() -> None:
    data = load_preset("ct-mr-rigid").to_dict()
    data["levels"][0]["iteratoins"] = 5
    with pytest.raises(RegistrationError, match=r"levels\[0\].*iteratoins"):
        RegistrationParameters.from_dict(data)


def test_unknown_preset_and_bad_json_are_one_line_errors() -> None:
    with pytest.raises(RegistrationError, match="unknown registration preset 'nope'.*ct-mr-rigid"):
        load_preset("nope")
    with pytest.raises(RegistrationError, match="unknown registration preset 'window_presets'"):
        load_preset("window_presets")
    with pytest.raises(RegistrationError, match="not valid JSON"):
        RegistrationParameters.from_json("{levels: ")
