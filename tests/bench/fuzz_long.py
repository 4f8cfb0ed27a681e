"""The long fuzz run: many more cases than CI's 1,000, past CI's corpus, with a JSON report.

    .venv/bin/python tests/bench/fuzz_long.py --cases 20000 [--start 1000] [--minutes 60] [--report fuzz.json]

Same seeds, mutators and limits as ``tests/reliability/test_fuzz.py`` (a
forked child per case, address-space limit, timeout); cases start where
CI's stop so they are new ones. Prints progress every 100 cases and, at the
end, cases by status, the worst time and peak memory per case, and every
finding with the label that replays it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "reliability"))

import fuzzing  # noqa: E402 - the harness lives beside the CI test


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--start", type=int, default=1000, help="first case number (CI runs 0-999)")
    parser.add_argument("--minutes", type=float, default=0, help="stop after this long (0: run every case)")
    parser.add_argument("--report", type=Path, default=None, help="write the JSON summary here")
    args = parser.parse_args()
    os.environ.setdefault("WORKSTATION_HOME", tempfile.mkdtemp(prefix="fuzz-home-"))
    seeds = fuzzing.load_seeds(fuzzing.ROOT.parent / "shared" / "data", fuzzing.ROOT / ".test-data")

    cases = fuzzing.corpus(seeds, args.cases, args.start)
    stop_at = time.monotonic() + args.minutes * 60 if args.minutes else float("inf")
    outcomes: list[fuzzing.Outcome] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as workdir, fuzzing.CaseServer() as server:
        for case in cases:
            if time.monotonic() > stop_at:
                break
            outcome = fuzzing.run_case(case, {s.name: s for s in seeds}, Path(workdir), server)
            outcomes.append(outcome)
            if outcome.status != "ok":
                print(f"{outcome.status}: {outcome.case}: {outcome.problems}", flush=True)
            if len(outcomes) % 100 == 0:
                print(f"{len(outcomes)} cases, {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    summary = fuzzing.summary(outcomes)
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    text = json.dumps(summary, indent=1)
    if args.report:
        args.report.write_text(text)
    print(text)
    return 1 if summary["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
