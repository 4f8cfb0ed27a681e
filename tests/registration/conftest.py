"""Fixtures for registration tests: the demo CT + MR (known truth) written once, loaded through the DICOM loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from workstation.demo import read_ground_truth, write_demo_study
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress
from workstation.volume import Volume


@dataclass
class DemoPair:
    """The demo CT (fixed) and MR (moving) with the documented truth."""

    folder: Path
    ct: Volume
    mr: Volume
    truth: np.ndarray  # 4x4 LPS, fixed (CT) point -> moving (MR) point
    landmarks_ct: np.ndarray
    landmarks_mr: np.ndarray


@pytest.fixture(scope="session")
def demo_pair(tmp_path_factory: pytest.TempPathFactory) -> DemoPair:
    folder = write_demo_study(no_progress, None, tmp_path_factory.mktemp("registration-demo") / "demo")
    truth = read_ground_truth(folder)
    [ct] = load_volumes(no_progress, None, folder / truth["fixed"]["folder"]).volumes
    [mr] = load_volumes(no_progress, None, folder / truth["moving"]["folder"]).volumes
    pairs = truth["landmarks"].values()
    return DemoPair(folder, ct, mr, truth["matrix_lps"], np.array([p["ct"] for p in pairs]),
                    np.array([p["mr"] for p in pairs]))
