"""``workstation register`` on crops of the decubitus head as NIfTI: bad input refused, a deformable result as .h5.

Bad input (images that do not overlap at all, a single slice, an empty mask,
a label map as moving image) must give one line on stderr naming the file and
the reason, exit status 2, no traceback, and nothing in the output folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from registration import synthetic
from registration.evaluation import body_points
from workstation.cli.convert import write_volume
from workstation.dicom.load import load_volumes
from workstation.jobs import no_progress
from workstation.volume import Volume


def workstation(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workstation", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=os.environ.copy())


@pytest.fixture(scope="module")
def head(decubitus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Volume, np.ndarray]:
    """A folder for input files, the HFS series and its body centre."""
    [hfs] = load_volumes(no_progress, None, decubitus / "HFS").volumes
    return tmp_path_factory.mktemp("register-input"), hfs, body_points(hfs).mean(axis=0)


def write(folder: Path, name: str, volume: Volume) -> Path:
    path = folder / name
    write_volume(volume, path)
    return path


def refused(args: list[str | Path], out: Path) -> str:
    done = workstation("register", *args, "-o", out / "t.h5", "--resampled", out / "r.nii.gz")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and not any(out.iterdir())
    return line


def test_bad_input_is_one_line_and_writes_nothing(head, tmp_path: Path) -> None:
    folder, hfs, centre = head
    fixed = write(folder, "fixed.nii.gz", synthetic.crop(hfs, centre, (50.0, 50.0, 50.0)))
    away = synthetic.rigid_matrix(0.0, [0.0, 0.0, 1.0], [0.0, 0.0, 400.0], centre)
    far = write(folder, "far.nii.gz", synthetic.misplace(synthetic.crop(hfs, centre, (50.0, 50.0, 50.0)), away))
    line = refused([fixed, far], tmp_path)
    assert line.startswith("workstation register:") and "do not overlap at all" in line

    single = write(folder, "single.nii.gz", synthetic.crop(hfs, centre, (50.0, 50.0, 1.0)))
    assert refused([fixed, single], tmp_path) == (f"workstation register: {single}: a single slice: registration "
                                                  "needs a 3D volume at least 4 voxels along each axis")

    crop = synthetic.crop(hfs, centre, (50.0, 50.0, 50.0))
    empty = write(folder, "empty.nii.gz", Volume(np.zeros(crop.array.shape, np.uint8), crop.affine))
    line = refused([fixed, fixed, "--fixed-mask", empty], tmp_path)
    assert line == f"workstation register: {empty}: the mask is empty: no voxel to sample the metric in"

    levels = np.digitize(crop.array, np.percentile(crop.array, [25, 50, 75])).astype(np.uint8)
    labels = write(folder, "labels.nii.gz", Volume(levels, crop.affine))
    line = refused([fixed, labels], tmp_path)
    assert line.startswith(f"workstation register: {labels}: a label map (4 distinct values)")


def test_deformable_result_is_written_as_h5_that_simpleitk_reads(head, tmp_path: Path) -> None:
    """A crop warped by a known smooth field (the fixed image) against its inverted original: the .h5 holds it."""
    folder, hfs, centre = head
    source = synthetic.crop(hfs, centre, (80.0, 80.0, 80.0))
    warp = synthetic.smooth_warp(source, seed=5, grid_spacing_mm=40.0, mean_mm=2.0)
    fixed = write(folder, "def_fixed.nii.gz", warp.warped)
    moving = write(folder, "def_moving.nii.gz", synthetic.second_contrast(source, "inverted"))
    out = tmp_path / "deformable.h5"
    done = workstation("register", fixed, moving, "--preset", "bspline-deformable", "-o", out, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["kept_start"] is False and report["start_check"]["metric_end"] < report["start_check"]["metric_start"]
    transform = sitk.ReadTransform(str(out)).Downcast()
    assert isinstance(transform, sitk.CompositeTransform)
    kinds = [transform.GetNthTransform(n).GetName() for n in range(transform.GetNumberOfTransforms())]
    assert "BSplineTransform" in kinds, kinds
    # Read back, it maps the crop's central points nearer to where the known warp sends them than identity does.
    points = centre + np.random.default_rng(0).uniform(-20.0, 20.0, size=(200, 3))
    truth = np.array([warp.truth.TransformPoint(tuple(p)) for p in points])
    found = np.array([transform.TransformPoint(tuple(p)) for p in points])
    assert np.linalg.norm(found - truth, axis=1).mean() < 0.6 * np.linalg.norm(points - truth, axis=1).mean()
