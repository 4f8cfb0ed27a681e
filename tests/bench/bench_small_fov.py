"""Capture range on small fields of view: crops misplaced by known rigid motions, mr-mr-rigid with init auto.

Fixed: a 42 x 76 x 77 mm crop (1 mm voxels) about the phantom's centre;
moving: a 60 x 55 x 52 mm crop of the same scan in a second contrast
(cirs057a MR inverted, decubitus HFS remapped through a non-monotonic curve),
its placement moved by a rotation of ``deg`` about a seeded random axis
through the centre and a shift of ``mm`` in a seeded random direction
(``registration.synthetic``). A run succeeds when its transform is within
1 mm (mean over the fixed grid) of the truth. Reported per magnitude: the
successes out of ``--trials``, the median error and seconds, and which
start won.

Run: ``.venv/bin/python tests/bench/bench_small_fov.py [--trials 3]``
(or ``.venv/bin/pytest tests/bench/bench_small_fov.py -s``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

from workstation.jobs import no_progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("WORKSTATION_SHARED_DATA", ROOT.parent / "shared" / "data"))
CASES = {"cirs MR inverted": (ROOT / ".test-data" / "cirs057a" / "mr", "inverted"),
         "decubitus HFS remapped": (SHARED / "dcm_qa_decubitus" / "In" / "HFS", "remapped")}
MAGNITUDES = [(5.0, 5.0), (10.0, 10.0), (15.0, 15.0), (20.0, 20.0), (30.0, 25.0), (45.0, 30.0)]


def bench(trials: int) -> list[dict]:
    from registration import synthetic
    from registration.evaluation import body_points, disagreement
    from registration.parameters import load_preset
    from registration.runner import register
    from workstation.dicom.load import load_volumes

    rows = []
    for name, (folder, contrast) in CASES.items():
        [volume] = load_volumes(no_progress, None, folder).volumes
        centre = body_points(volume).mean(axis=0)
        fixed = synthetic.crop(volume, centre, (42.0, 76.0, 77.0))
        moving = synthetic.second_contrast(synthetic.crop(volume, centre + [3.0, -2.0, 5.0], (60.0, 55.0, 52.0)),
                                           contrast)
        ni, nj, nk = fixed.shape_ijk
        grid = fixed.index_to_world(np.stack(np.meshgrid(np.linspace(0, ni - 1, 6), np.linspace(0, nj - 1, 6),
                                                         np.linspace(0, nk - 1, 6), indexing="ij"), -1).reshape(-1, 3))
        rng = np.random.default_rng(0)
        for degrees, mm in MAGNITUDES:
            errors, seconds, starts = [], [], []
            for _ in range(trials):
                direction = rng.normal(size=3)
                truth = synthetic.rigid_matrix(degrees, rng.normal(size=3), mm * direction / np.linalg.norm(direction),
                                               centre)
                result = register(fixed, synthetic.misplace(moving, truth), load_preset("mr-mr-rigid"), seed=0)
                errors.append(disagreement(result.matrix_lps, truth, grid).mean)
                seconds.append(result.seconds)
                starts.append(result.init.removeprefix("search: "))
            rows.append({"case": name, "degrees": degrees, "mm": mm, "ok": sum(e < 1.0 for e in errors),
                         "trials": trials, "median_error_mm": statistics.median(errors),
                         "median_seconds": statistics.median(seconds), "starts": sorted(set(starts))})
    return rows


def print_report(rows: list[dict]) -> None:
    print(f"{'case':24}{'deg':>5}{'mm':>5}{'ok':>6}{'median err mm':>15}{'median s':>10}  starts that won")
    for r in rows:
        print(f"{r['case']:24}{r['degrees']:5.0f}{r['mm']:5.0f}{r['ok']:>4}/{r['trials']}{r['median_error_mm']:15.2f}"
              f"{r['median_seconds']:10.1f}  {', '.join(r['starts'])}")
    for case in dict.fromkeys(r["case"] for r in rows):
        captured = [(r["degrees"], r["mm"]) for r in rows if r["case"] == case and r["ok"] == r["trials"]]
        print(f"{case}: every trial captured up to {max(captured) if captured else 'none'} (deg, mm)")


def test_bench_small_fov() -> None:
    rows = bench(trials=3)
    print_report(rows)
    assert all(r["ok"] == r["trials"] for r in rows if r["degrees"] <= 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    print_report(bench(parser.parse_args().trials))
