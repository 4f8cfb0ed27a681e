"""The decubitus head in four positions (HFS, HFP, HFDR, HFDL): mr-mr-rigid against itk-elastix's default rigid.

Every ordered pair of positions is registered both ways by both programs, in
this one process. Reported per pair: how far apart ours and elastix's
transforms send the points inside the fixed head (mean and max, mm), and each
program's forward/backward consistency: a point sent through A->B and then
B->A should come back where it was (mean and max of the round trip, mm).
Ours starts as ``auto`` does (the series have different frames of reference:
the scanner placement is scored against the orientation search); elastix
from the scanner placement, as it has no search.

Run: ``.venv/bin/python tests/bench/bench_decubitus.py`` (or
``.venv/bin/pytest tests/bench/bench_decubitus.py -s``).
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
from pathlib import Path

from workstation.jobs import no_progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = Path(os.environ.get("WORKSTATION_SHARED_DATA", ROOT.parent / "shared" / "data")) / "dcm_qa_decubitus" / "In"
POSITIONS = ("HFS", "HFP", "HFDR", "HFDL")


def bench() -> list[dict]:
    import elastix_peer

    from registration.evaluation import Distances, body_points, disagreement, transform_points
    from registration.parameters import load_preset
    from registration.runner import register
    from workstation.dicom.load import load_volumes

    volumes = {p: load_volumes(no_progress, None, DATA / p).volumes[0] for p in POSITIONS}
    images = {p: elastix_peer.itk_image(v) for p, v in volumes.items()}
    ours, theirs, seconds = {}, {}, {"ours": [], "elastix": []}
    for a, b in itertools.permutations(POSITIONS, 2):
        result = register(volumes[a], volumes[b], load_preset("mr-mr-rigid"), seed=0)
        ours[a, b] = (result.matrix_lps, result.init, result.kept_start)
        seconds["ours"].append(result.seconds)
        transform, wall = elastix_peer.register(images[a], images[b], ["rigid"])
        theirs[a, b] = elastix_peer.matrix_of(transform)
        seconds["elastix"].append(wall)
    rows = []
    for a, b in itertools.combinations(POSITIONS, 2):
        points = body_points(volumes[a])
        row = {"pair": f"{a}->{b}", "init": ours[a, b][1], "kept_start": ours[a, b][2],
               "agreement": disagreement(ours[a, b][0], theirs[a, b], points),
               "agreement_back": disagreement(ours[b, a][0], theirs[b, a], body_points(volumes[b]))}
        for name, found in (("ours", {k: v[0] for k, v in ours.items()}), ("elastix", theirs)):
            there = transform_points(found[a, b], points)
            row[f"round_trip_{name}"] = Distances.of(transform_points(found[b, a], there), points)
        rows.append(row)
    rows.append({"seconds": {k: statistics.median(v) for k, v in seconds.items()}})
    return rows


def print_report(rows: list[dict]) -> None:
    *pairs, timing = rows
    print(f"{'pair':12}{'start (ours)':34}{'ours vs elastix mm':>22}{'(back)':>16}"
          f"{'round trip ours':>20}{'round trip elastix':>22}")
    for r in pairs:
        def pair(d) -> str:
            return f"{d.mean:.2f} / {d.max:.2f}"
        print(f"{r['pair']:12}{r['init'][:32] + (' kept' if r['kept_start'] else ''):34}"
              f"{pair(r['agreement']):>22}{pair(r['agreement_back']):>16}"
              f"{pair(r['round_trip_ours']):>20}{pair(r['round_trip_elastix']):>22}")
    s = timing["seconds"]
    print(f"median seconds a run: ours {s['ours']:.2f}, elastix {s['elastix']:.2f}, "
          f"ratio {s['ours'] / s['elastix']:.2f} (distances: mean / max over the fixed head's points)")


def test_bench_decubitus() -> None:
    rows = bench()
    print_report(rows)
    assert all(r["agreement"].mean < 1.0 for r in rows[:-1])


if __name__ == "__main__":
    print_report(bench())
