"""The real case: cirs057a CT (fixed) to MR (moving), phantom turned half round between them, default settings.

The reference is established here, independently of the orientation search:
the start the data README documents (a half turn about the anterior-posterior
axis, body centres aligned) optimised with fine settings (much denser
sampling, slower step decay, tighter stop).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from registration.context import RunContext
from registration.evaluation import body_points, disagreement
from registration.initialise import centres_of_mass
from registration.parameters import LevelSettings, load_preset
from registration.runner import register
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress

pytestmark = pytest.mark.slow  # two full registrations of a 512 x 512 x 283 CT: minutes on two shared cores


@pytest.fixture(scope="module")
def cirs(cirs_ct: Path, cirs_mr: Path):
    [ct] = load_volumes(no_progress, None, cirs_ct).volumes
    [mr] = load_volumes(no_progress, None, cirs_mr).volumes
    return ct, mr


def fine_reference(ct, mr) -> np.ndarray:
    params = load_preset("ct-mr-rigid")
    params.levels = [LevelSettings(spacing_mm=2.0, iterations=200, step_mm=2.0, sampling_percentage=0.2),
                     LevelSettings(spacing_mm=1.0, iterations=200, step_mm=0.5, sampling_percentage=0.05)]
    params.optimizer.relaxation, params.optimizer.min_step_mm = 0.8, 0.002
    ctx = RunContext(ct, mr, params, seed=11, threads=1)
    half_turn_about_ap = centres_of_mass(ctx.centroid("fixed"), ctx.centroid("moving"), np.diag([-1.0, 1.0, -1.0]))
    return register(ct, mr, params, init="manual", initial_transform=half_turn_about_ap, seed=11).matrix_lps


def test_default_ct_mr_rigid_finds_the_half_turn_by_itself(cirs) -> None:
    ct, mr = cirs
    result = register(ct, mr, load_preset("ct-mr-rigid"))
    reference = fine_reference(ct, mr)
    phantom = body_points(ct)
    agreement = disagreement(result.matrix_lps, reference, phantom)
    assert agreement.mean < 1.0 and agreement.max < 2.0, agreement
    assert result.init in ("search: 180 deg about P", "search: 180 deg about A")
    # The answer is far from where a local optimiser would start without the search.
    assert disagreement(np.eye(4), reference, phantom).mean > 50
    centres_only = register(ct, mr, load_preset("ct-mr-rigid"), init="moments").matrix_lps
    assert disagreement(centres_only, reference, phantom).mean > 20
