"""Resampling onto the fixed grid: a cancel aborts ITK's filter instead of waiting a minute for a B-spline."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration import synthetic
from registration.evaluation import body_points
from registration.resample import resample_to
from workstation.dicom.load import load_volumes
from workstation.errors import Cancelled
from workstation.jobs import no_progress


def test_a_set_cancel_aborts_the_resampling_and_an_unset_one_changes_nothing(cirs_mr: Path) -> None:
    [mr] = load_volumes(no_progress, None, cirs_mr).volumes
    moving = synthetic.crop(mr, body_points(mr).mean(axis=0), (40.0, 40.0, 40.0))
    truth = synthetic.smooth_warp(moving, seed=2, grid_spacing_mm=20.0, mean_mm=2.0).truth
    cancel = threading.Event()
    expected = sitk.Resample(moving.to_sitk(), moving.to_sitk(), truth, sitk.sitkLinear, float(moving.array.min()),
                             sitk.sitkFloat32)
    np.testing.assert_array_equal(resample_to(moving, moving, truth, cancel=cancel).array,
                                  sitk.GetArrayFromImage(expected))
    cancel.set()
    with pytest.raises(Cancelled):
        resample_to(moving, moving, truth, cancel=cancel)
