"""Deformable registration against a known warp: our bspline-deformable vs itk-elastix's default rigid+bspline.

The case is made from the real cirs057a MR (``registration.synthetic``): the
MR warped by a seeded cubic B-spline field (control points every 60 mm,
scaled to a mean displacement of 4 mm inside the phantom) and a small rigid
motion (3 degrees, 2-3 mm) is the fixed image; the original MR with its
contrast inverted (so that only mutual information can match the two) is the
moving one. The truth, fixed point -> moving point, is known everywhere.

Both peers read the same two NIfTI files, each in a fresh process (so the
peak RSS is its own), in this one run. Reported: the residual
``|found(x) - truth(x)|`` at 3000 points inside the phantom (mean, p95,
max), wall seconds of the registration call, peak RSS, and for ours the
folding (voxels with a Jacobian determinant <= 0 on a 2 mm grid inside the
phantom) and whether the start was kept.

Run: ``.venv/bin/python tests/bench/bench_deformable.py [--seed 1]``
(or ``.venv/bin/pytest tests/bench/bench_deformable.py -s``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from workstation.jobs import no_progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
MR = ROOT / ".test-data" / "cirs057a" / "mr"
POINTS = 3000


def make_case(folder: Path, seed: int) -> dict:
    """Write fixed.nii, moving.nii and points.npz (phantom points and where the truth sends them)."""
    from registration import synthetic
    from registration.evaluation import body_points
    from workstation.cli.convert import write_volume
    from workstation.dicom.load import load_volumes

    [mr] = load_volumes(no_progress, None, MR).volumes
    inside = body_points(mr, spacing_mm=2.0)
    centre = inside.mean(axis=0)
    rng = np.random.default_rng(seed)
    rigid = synthetic.rigid_matrix(3.0, rng.normal(size=3), rng.uniform(-3.0, 3.0, size=3), centre)
    warp = synthetic.smooth_warp(mr, seed, grid_spacing_mm=60.0, mean_mm=4.0, rigid=rigid,
                                 inside=inside[rng.choice(len(inside), 4000, replace=False)])
    write_volume(warp.warped, folder / "fixed.nii")
    write_volume(synthetic.second_contrast(mr, "inverted"), folder / "moving.nii")
    points = body_points(warp.warped, spacing_mm=2.0)
    points = points[rng.choice(len(points), POINTS, replace=False)]
    truth = np.array([warp.truth.TransformPoint(tuple(p)) for p in points])
    nonrigid = np.linalg.norm(np.array([warp.bspline.TransformPoint(tuple(p)) for p in points]) - points, axis=1)
    np.savez(folder / "points.npz", points=points, truth=truth)
    return {"nonrigid_mean_mm": float(nonrigid.mean()), "nonrigid_max_mm": float(nonrigid.max())}


def _residual(found: np.ndarray, folder: Path) -> dict:
    case = np.load(folder / "points.npz")
    d = np.linalg.norm(found - case["truth"], axis=1)
    return {"mean_mm": float(d.mean()), "p95_mm": float(np.percentile(d, 95)), "max_mm": float(d.max())}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_ours(folder: Path) -> dict:
    import SimpleITK as sitk

    from registration import deformation
    from registration.evaluation import transform_points
    from registration.parameters import load_preset
    from registration.runner import register
    from workstation.volume import Volume

    fixed = Volume.from_sitk(sitk.ReadImage(str(folder / "fixed.nii")))
    moving = Volume.from_sitk(sitk.ReadImage(str(folder / "moving.nii")))
    wall = time.perf_counter()
    result = register(fixed, moving, load_preset("bspline-deformable"))
    wall = time.perf_counter() - wall
    peak = _peak_mb()
    points = np.load(folder / "points.npz")["points"]
    grid = deformation.reference_grid(fixed, 2.0)
    jacobian = deformation.jacobian_determinant(result.transform, grid)
    inside = np.zeros(jacobian.array.shape, dtype=bool)
    ijk = np.round(jacobian.world_to_index(points)).astype(int)
    inside[ijk[:, 2], ijk[:, 1], ijk[:, 0]] = True
    fold = deformation.folding(jacobian, inside)
    return {"residual": _residual(transform_points(result.transform, points), folder), "seconds": wall,
            "peak_rss_mb": peak, "init": result.init, "kept_start": result.kept_start,
            "folded": fold.folded, "jacobian_points": fold.voxels, "jacobian_min": fold.min_determinant}


def worker_elastix(folder: Path) -> dict:
    import elastix_peer
    import itk

    fixed = itk.imread(str(folder / "fixed.nii"), itk.F)
    moving = itk.imread(str(folder / "moving.nii"), itk.F)
    transform, wall = elastix_peer.register(fixed, moving, ["rigid", "bspline"])
    peak = _peak_mb()
    points = np.load(folder / "points.npz")["points"]
    return {"residual": _residual(elastix_peer.map_points(transform, points), folder), "seconds": wall,
            "peak_rss_mb": peak}


def run_worker(kind: str, folder: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", kind, "--folder", str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = {"case": make_case(folder, seed), "seed": seed}
        report["ours"] = run_worker("ours", folder)
        report["elastix"] = run_worker("elastix", folder)
    report["time_ratio"] = report["ours"]["seconds"] / report["elastix"]["seconds"]
    return report


def print_report(report: dict) -> None:
    case = report["case"]
    print(f"cirs057a MR warped (seed {report['seed']}): non-rigid part mean {case['nonrigid_mean_mm']:.2f} mm, "
          f"max {case['nonrigid_max_mm']:.2f} mm, plus 3 degrees; moving contrast inverted; {POINTS} phantom points")
    print(f"{'':10}{'mean mm':>9}{'p95 mm':>9}{'max mm':>9}{'wall s':>9}{'peak MB':>9}")
    for name in ("ours", "elastix"):
        r = report[name]
        res = r["residual"]
        print(f"{name:10}{res['mean_mm']:9.2f}{res['p95_mm']:9.2f}{res['max_mm']:9.2f}{r['seconds']:9.1f}"
              f"{r['peak_rss_mb']:9.0f}")
    ours = report["ours"]
    print(f"ratio ours/elastix wall: {report['time_ratio']:.2f}; ours start {ours['init']!r}, kept start "
          f"{ours['kept_start']}; folding: {ours['folded']} of {ours['jacobian_points']} phantom voxels (2 mm) with "
          f"Jacobian determinant <= 0 (min {ours['jacobian_min']:.3f})")


def test_bench_deformable() -> None:
    report = bench(seed=1)
    print_report(report)
    assert report["ours"]["folded"] == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", choices=["ours", "elastix"])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--only-ours", action="store_true", help="skip elastix (tuning)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps((worker_ours if args.worker == "ours" else worker_elastix)(args.folder)))
        return 0
    if args.only_ours:
        with tempfile.TemporaryDirectory() as tmp:
            print(make_case(Path(tmp), args.seed), run_worker("ours", Path(tmp)))
        return 0
    print_report(bench(args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
