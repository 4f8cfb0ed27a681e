"""``workstation register`` as scripts call it: a fresh process on the demo CT (DICOM) and MR (NIfTI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration.transforms import matrix_lps, read_transform
from workstation.demo import read_ground_truth, write_demo_study
from workstation.dicom.load import load_volumes
from workstation.image_io import write_volume
from workstation.jobs import no_progress


def workstation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=os.environ.copy())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The demo CT as its DICOM folder and the demo MR converted to NIfTI (RAS on disk)."""
    folder = write_demo_study(no_progress, None, tmp_path_factory.mktemp("cli-demo") / "demo")
    truth = read_ground_truth(folder)
    [mr] = load_volumes(no_progress, None, folder / truth["moving"]["folder"]).volumes
    mr_file = folder.parent / "mr.nii.gz"
    write_volume(mr, mr_file)
    return folder / truth["fixed"]["folder"], mr_file, truth


def test_register_json_reports_the_transform_it_wrote(demo, tmp_path: Path) -> None:
    ct_dir, mr_file, truth = demo
    out, resampled = tmp_path / "ct_to_mr.tfm", tmp_path / "mr_on_ct.nii.gz"
    done = workstation("register", ct_dir, mr_file, "--preset", "ct-mr-rigid", "-o", out,
                       "--resampled", resampled, "--seed", "2", "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()  # one object, nothing else on stdout
    report = json.loads(line)
    assert {"preset", "seconds", "iterations", "metric", "matrix_lps", "parameters"} <= set(report)
    assert report["preset"] == "ct-mr-rigid" and report["parameters"]["name"] == "ct-mr-rigid"
    assert report["seed"] == 2 and report["iterations"] > 0 and report["seconds"] > 0
    assert "[register]" in done.stderr  # progress went to stderr

    matrix = np.array(report["matrix_lps"])
    ct_points = np.array([p["ct"] for p in truth["landmarks"].values()])
    mr_points = np.array([p["mr"] for p in truth["landmarks"].values()])
    errors = np.linalg.norm(ct_points @ matrix[:3, :3].T + matrix[:3, 3] - mr_points, axis=1)
    assert errors.mean() < 1.0, errors
    assert np.allclose(matrix_lps(read_transform(out)), matrix, atol=1e-9)

    [ct] = load_volumes(no_progress, None, ct_dir).volumes
    image = sitk.ReadImage(str(resampled))
    assert image.GetSize() == ct.shape_ijk
    assert np.allclose(image.GetOrigin(), ct.origin, atol=1e-4)


def test_register_errors_are_one_line_naming_the_input(demo, tmp_path: Path) -> None:
    ct_dir, mr_file, _ = demo
    missing = workstation("register", ct_dir, tmp_path / "nowhere", "-o", tmp_path / "t.tfm")
    assert missing.returncode == 2
    expected = f"workstation register: {tmp_path / 'nowhere'}: no such file or folder"
    assert missing.stderr.strip().splitlines() == [expected]
    bad_preset = workstation("register", ct_dir, mr_file, "--preset", "nope", "-o", tmp_path / "t.tfm")
    assert bad_preset.returncode == 2 and "unknown registration preset 'nope'" in bad_preset.stderr
    bad_suffix = workstation("register", ct_dir, mr_file, "-o", tmp_path / "t.xyz")
    assert bad_suffix.returncode == 2 and "unknown transform file type" in bad_suffix.stderr
    assert not any(tmp_path.iterdir())
