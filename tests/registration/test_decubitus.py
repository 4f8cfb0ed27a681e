"""The decubitus head phantom in two positions: mr-mr-rigid both ways, against a plain SimpleITK registration.

The series carry different frames of reference, so ``auto`` scores the
scanner placement against the orientation search. The reference is made
here without our runner: SimpleITK's own multi-resolution Mattes MI rigid
registration from the scanner placement, densely sampled (itk-elastix's
default rigid agrees with both; see tests/bench/bench_decubitus.py, which is
not run here because itk weighs 1.6 GB). Forward and backward results must
also undo each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration.evaluation import Distances, body_points, disagreement, transform_points
from registration.parameters import load_preset
from registration.runner import register
from registration.transforms import matrix_lps
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress
from workstation.volume import Volume

pytestmark = pytest.mark.slow  # three whole-series registrations: about a minute on two shared cores


@pytest.fixture(scope="module")
def positions(decubitus: Path) -> dict[str, Volume]:
    return {name: load_volumes(no_progress, None, decubitus / name).volumes[0] for name in ("HFS", "HFDR")}


def plain_simpleitk(fixed: Volume, moving: Volume) -> np.ndarray:
    """SimpleITK's textbook rigid Mattes MI registration (identity start, 4 levels, 20 % random samples)."""
    f, m = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32), sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    start = sitk.CenteredTransformInitializer(f, m, sitk.Euler3DTransform(),
                                              sitk.CenteredTransformInitializerFilter.GEOMETRY)
    start.SetTranslation((0.0, 0.0, 0.0))  # keep the centre for the rotation, start from the scanner placement
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.2, 1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(4.0, 0.001, 300, relaxationFactor=0.7)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([8, 4, 2, 1])
    method.SetSmoothingSigmasPerLevel([4.0, 2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(start, inPlace=True)
    method.Execute(f, m)
    return matrix_lps(start)


def test_two_positions_agree_with_plain_simpleitk_and_undo_each_other(positions) -> None:
    hfs, hfdr = positions["HFS"], positions["HFDR"]
    forward = register(hfs, hfdr, load_preset("mr-mr-rigid"), seed=0)
    backward = register(hfdr, hfs, load_preset("mr-mr-rigid"), seed=0)
    head = body_points(hfs)
    reference = plain_simpleitk(hfs, hfdr)
    agreement = disagreement(forward.matrix_lps, reference, head)
    assert agreement.mean < 1.0 and agreement.max < 2.0, (forward.init, agreement)
    round_trip = Distances.of(transform_points(backward.matrix_lps, transform_points(forward.matrix_lps, head)), head)
    assert round_trip.mean < 0.5 and round_trip.max < 1.0, round_trip
    assert disagreement(np.eye(4), reference, head).mean > 5  # the phantom did move between the positions
