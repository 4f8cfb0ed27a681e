"""``workstation --self-test``: does this installed program hold every part it needs, and do they work?

Why: a frozen bundle or a fresh install can lack a piece that only shows when
a user opens an unusual file (a pixel plugin found through package metadata,
a resource file, a VTK back-end). The self-test exercises each piece on data
it generates itself, in a temporary folder, and prints one line per check
(``PASS``/``FAIL``/``SKIP`` name: detail), so a support call starts from that
report. It needs no patient data, no network and no user data folder.

The checks here use no Qt or VTK; the frame render check lives with the GUI
(``workstation.app.selftest_render``) and is passed in by the caller.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import SimpleITK as sitk

import workstation
from workstation.jobs import no_progress

CheckFn = Callable[[Path], str]
"""A check: runs in its own empty folder, returns a one-line detail, raises on failure (``Skipped`` to skip)."""


class Skipped(Exception):  # noqa: N818 (a result, not an error)
    """A check that cannot run here (e.g. no display); it neither passes nor fails the run."""


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # PASS | FAIL | SKIP
    detail: str
    seconds: float


def run_check(name: str, check: CheckFn, folder: Path) -> Outcome:
    started = time.perf_counter()
    folder.mkdir(parents=True)
    try:
        status, detail = "PASS", check(folder)
    except Skipped as exc:
        status, detail = "SKIP", str(exc)
    except Exception as exc:  # a self-test reports every failure and goes on with the next check
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
    return Outcome(name, status, " ".join(detail.split()), time.perf_counter() - started)


def run_self_test(checks: Sequence[tuple[str, CheckFn]], out: TextIO | None = None) -> int:
    """Run the checks in a temporary folder, print one line each and a summary; 0 only when none failed."""
    out = out or sys.stdout  # looked up at call time, so a redirected stdout is honoured
    print(f"workstation {workstation.__version__} self-test "
          f"(python {sys.version.split()[0]}, {'frozen bundle' if getattr(sys, 'frozen', False) else 'installed'})",
          file=out, flush=True)
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="workstation-selftest-") as tmp:
        for n, (name, check) in enumerate(checks):
            outcome = run_check(name, check, Path(tmp) / f"{n:02d}")
            outcomes.append(outcome)
            print(f"{outcome.status} {outcome.name}: {outcome.detail} ({outcome.seconds:.1f} s)", file=out, flush=True)
    failed = [o.name for o in outcomes if o.status == "FAIL"]
    passed = sum(o.status == "PASS" for o in outcomes)
    skipped = sum(o.status == "SKIP" for o in outcomes)
    print(f"{'FAILED' if failed else 'OK'}: {passed} passed, {len(failed)} failed, {skipped} skipped", file=out,
          flush=True)
    return 1 if failed else 0


def check_version(_folder: Path) -> str:
    """The version comes from installed metadata; 0.0.0 means a bundle was built without it."""
    if workstation.__version__ == "0.0.0":
        raise RuntimeError("no installed metadata for 'workstation' (version unknown)")
    return f"workstation {workstation.__version__}"


def check_decoding(folder: Path) -> str:
    """Every transfer syntax in ``selftest_samples``: the first one that fails names itself and fails the check."""
    from workstation.selftest_samples import SAMPLES, check_sample

    details = [check_sample(sample, folder / f"{n:02d}") for n, sample in enumerate(SAMPLES)]
    return f"{len(details)} transfer syntaxes decoded through the loader: " + "; ".join(details)


def check_demo_study(folder: Path) -> str:
    """Writes the demo study and assembles it: the volumes must have the phantom's exact grids."""
    from workstation import demo
    from workstation.dicom.load import load_volumes

    study = demo.write_demo_study(no_progress, None, folder / "demo")
    volumes = {v.meta.modality: v for v in load_volumes(no_progress, None, study).volumes}
    if sorted(volumes) != ["CT", "MR"]:
        raise RuntimeError(f"expected a CT and an MR volume, assembled {sorted(volumes) or 'none'}")
    for acquisition in (demo.CT, demo.MR):
        volume = volumes[acquisition.modality]
        expected = tuple(reversed(acquisition.size))
        if volume.array.shape != expected:
            raise RuntimeError(f"{acquisition.modality} shape {volume.array.shape}, expected {expected}")
        if not np.allclose(volume.affine, acquisition.affine, atol=1e-4):
            raise RuntimeError(f"{acquisition.modality} geometry differs from the phantom's")
    return ", ".join(f"{m} {'x'.join(map(str, v.array.shape))}" for m, v in sorted(volumes.items()))


REGISTRATION_TOLERANCE_MM = 1.5
"""Largest mean disagreement with the known motion over the phantom's box: half a voxel of its 3 mm grid."""


def _blob_phantom() -> sitk.Image:
    """Three overlapping ellipsoids of different brightness on a 3 mm grid: asymmetric, so rigid motion is unique."""
    k, j, i = np.indices((36, 40, 44), dtype=np.float32)
    image = np.zeros(k.shape, dtype=np.float32)
    for (ck, cj, ci), (rk, rj, ri), value in (((18, 20, 22), (12, 14, 17), 100.0), ((14, 16, 16), (5, 6, 7), 250.0),
                                              ((22, 26, 28), (4, 4, 6), 400.0)):
        image[((k - ck) / rk) ** 2 + ((j - cj) / rj) ** 2 + ((i - ci) / ri) ** 2 <= 1] += value
    out = sitk.SmoothingRecursiveGaussian(sitk.GetImageFromArray(image), 1.0)
    out.SetSpacing((3.0, 3.0, 3.0))
    out.SetOrigin((-66.0, -60.0, -54.0))
    return out


def check_registration(_folder: Path) -> str:
    """A short rigid run of the CT-MR preset on a phantom moved by a known rotation and shift."""
    from dataclasses import replace

    from registration.evaluation import disagreement
    from registration.parameters import LevelSettings, load_preset
    from registration.runner import register
    from workstation.volume import Volume

    fixed = _blob_phantom()
    truth = sitk.Euler3DTransform((0.0, 0.0, 0.0), 0.06, -0.04, 0.05, (4.0, -3.0, 5.0))  # fixed -> moving point
    moving = sitk.Resample(fixed, truth.GetInverse(), sitk.sitkLinear, 0.0)  # moving(truth(x)) = fixed(x)
    params = load_preset("ct-mr-rigid")
    params.search = replace(params.search, enabled=False)
    params.levels = [LevelSettings(spacing_mm=6.0, iterations=40, step_mm=2.0, sampling_percentage=0.5),
                     LevelSettings(spacing_mm=3.0, iterations=40, step_mm=1.0, sampling_percentage=0.25)]
    result = register(Volume.from_sitk(fixed), Volume.from_sitk(moving), params, init="moments", seed=1)
    corners = np.array([[x, y, z] for x in (-30.0, 30.0) for y in (-30.0, 30.0) for z in (-25.0, 25.0)])
    error = disagreement(result.transform, truth, corners)
    if error.mean > REGISTRATION_TOLERANCE_MM:
        raise RuntimeError(f"rigid registration off by {error.mean:.2f} mm on average (max {error.max:.2f} mm)")
    return (f"{params.name} ({len(params.levels)} levels, {result.iterations} iterations): "
            f"mean error {error.mean:.2f} mm, max {error.max:.2f} mm")


def standard_checks() -> list[tuple[str, CheckFn]]:
    """The checks that need neither Qt nor VTK, in the order they run."""
    return [("version", check_version), ("decode", check_decoding), ("demo study", check_demo_study),
            ("registration", check_registration)]
