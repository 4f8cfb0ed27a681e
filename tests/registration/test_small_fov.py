"""Small fields of view from real data: crops of the cirs MR and the decubitus head, two contrasts or positions.

The truth is made, not estimated: crops of one scan resampled onto 1 mm grids
are aligned by construction (identity), and a known rigid misplacement of
the moving crop's placement is the answer a run must find
(``registration.synthetic``). Second contrasts are the same voxels inverted or
remapped through a non-monotonic curve, so only mutual information can match
them. The crops carry no frame of reference UID, like NIfTI files: the
scanner placement has to win against the orientation search on its merits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from registration import synthetic
from registration.evaluation import body_points, disagreement
from registration.parameters import LevelSettings, load_preset
from registration.runner import register
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress
from workstation.volume import Volume

FIXED_SIZE, MOVING_SIZE = (42.0, 76.0, 77.0), (60.0, 55.0, 52.0)
"""The fields of view of the report that started this (mm): a few thousand voxels at a 4 mm level."""


def grid_points(volume: Volume, n: int = 6) -> np.ndarray:
    """LPS points spread over the whole grid: a crop is all foreground, so all of it must line up."""
    ijk = np.stack(np.meshgrid(*[np.linspace(0, s - 1, n) for s in volume.shape_ijk], indexing="ij"), -1)
    return volume.index_to_world(ijk.reshape(-1, 3))


@pytest.fixture(scope="module")
def cirs_mr_volume(cirs_mr: Path) -> tuple[Volume, np.ndarray]:
    [mr] = load_volumes(no_progress, None, cirs_mr).volumes
    return mr, body_points(mr).mean(axis=0)


@pytest.fixture(scope="module")
def head(decubitus: Path) -> dict[str, Volume]:
    return {name: load_volumes(no_progress, None, decubitus / name).volumes[0] for name in ("HFS", "HFP")}


def crop_pair(volume: Volume, centre: np.ndarray, contrast: str) -> tuple[Volume, Volume]:
    """Fixed crop and a second-contrast moving crop of another size, a few mm off-centre: aligned as they lie."""
    fixed = synthetic.crop(volume, centre, FIXED_SIZE)
    moving = synthetic.second_contrast(synthetic.crop(volume, centre + [3.0, -2.0, 5.0], MOVING_SIZE), contrast)
    return fixed, moving


@pytest.mark.parametrize("preset", ["mr-mr-rigid", "ct-mr-rigid", "multimodal-affine"])
def test_aligned_small_crops_stay_aligned(cirs_mr_volume, preset: str) -> None:
    mr, centre = cirs_mr_volume
    fixed, moving = crop_pair(mr, centre, "inverted")
    result = register(fixed, moving, load_preset(preset), seed=1)
    moved = disagreement(result.matrix_lps, np.eye(4), grid_points(fixed))
    limit = 1.0 if preset == "multimodal-affine" else 0.5  # 12 parameters on 42 mm: scale noise at the corners
    assert moved.mean < limit and moved.max < 2 * limit, (result.init, moved)
    assert "180" not in result.init and "90" not in result.init


@pytest.mark.parametrize(("case", "contrast", "degrees", "shift_mm"),
                         [("cirs", "remapped", 10.0, 6.0), ("head", "inverted", 15.0, 10.0)])
def test_small_crop_misplaced_by_a_known_amount_is_found(cirs_mr_volume, head, case: str, contrast: str,
                                                          degrees: float, shift_mm: float) -> None:
    volume, centre = cirs_mr_volume if case == "cirs" else (head["HFS"], body_points(head["HFS"]).mean(axis=0))
    fixed, moving = crop_pair(volume, centre, contrast)
    truth = synthetic.rigid_matrix(degrees, [1.0, 2.0, 3.0], shift_mm * np.array([1.0, -1.0, 1.0]) / np.sqrt(3),
                                   centre)
    result = register(fixed, synthetic.misplace(moving, truth), load_preset("mr-mr-rigid"), seed=2)
    error = disagreement(result.matrix_lps, truth, grid_points(fixed))
    assert error.mean < 0.5 and error.max < 1.0, (result.init, error)
    assert disagreement(np.eye(4), truth, grid_points(fixed)).mean > shift_mm / 2  # the misplacement is real


def test_two_positions_small_crops_agree_with_the_whole_series(head) -> None:
    """HFS and HFP crops about one anatomical point register as the whole series do."""
    hfs, hfp = head["HFS"], head["HFP"]
    whole = register(hfs, hfp, load_preset("mr-mr-rigid"), seed=3).matrix_lps
    centre = body_points(hfs).mean(axis=0)
    fixed = synthetic.crop(hfs, centre, (60.0, 60.0, 60.0))
    moving = synthetic.crop(hfp, whole[:3, :3] @ centre + whole[:3, 3], (60.0, 60.0, 60.0))
    result = register(fixed, moving, load_preset("mr-mr-rigid"), seed=3)
    agreement = disagreement(result.matrix_lps, whole, grid_points(fixed))
    assert agreement.mean < 1.0 and agreement.max < 2.0, (result.init, agreement)
    assert disagreement(np.eye(4), whole, grid_points(fixed)).mean > 20  # the phantom moved between positions


def test_same_frame_of_reference_refines_from_the_scanner_without_a_search(cirs_mr_volume) -> None:
    mr, centre = cirs_mr_volume
    fixed, moving = crop_pair(mr, centre, "inverted")
    fixed.meta.frame_of_reference_uid = moving.meta.frame_of_reference_uid = "1.2.3.4"
    truth = synthetic.rigid_matrix(4.0, [0.0, 0.0, 1.0], [2.0, 1.0, -1.0], centre)
    moving = synthetic.misplace(moving, truth)
    moving.meta.frame_of_reference_uid = "1.2.3.4"
    result = register(fixed, moving, load_preset("ct-mr-rigid"), seed=4)
    assert result.init == "scanner (same frame of reference)" and result.search == []
    assert disagreement(result.matrix_lps, truth, grid_points(fixed)).mean < 0.5


def test_a_run_that_ends_worse_than_its_start_keeps_the_start(cirs_mr_volume) -> None:
    """Already aligned, and a schedule that can only overshoot: the start comes back, and the result says so."""
    mr, centre = cirs_mr_volume
    fixed, moving = crop_pair(mr, centre, "inverted")
    params = load_preset("mr-mr-rigid")
    params.levels = [LevelSettings(spacing_mm=2.0, iterations=2, step_mm=15.0, sampling_percentage=0.05)]
    params.optimizer.relaxation = 0.99
    result = register(fixed, moving, params, init="scanner", seed=5)
    assert result.kept_start and result.start_check["end_is_worse"]
    assert np.array_equal(result.matrix_lps, np.eye(4))
    assert result.to_dict()["kept_start"] is True
    assert result.summary().endswith("so the start was kept")
