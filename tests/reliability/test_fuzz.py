"""Damaged DICOM never crashes or hangs the reading path, and every refusal names the file in one line.

1,000 deterministic mutation cases plus hypothesis-driven ones, each in a
child forked from a small case server under an address-space limit and a
timeout (see ``fuzzing``). A finding prints the case label (seed/mutator/
random seed), which replays it: ``fuzzing.run_case(Case(seed, mutator,
rng_seed), ...)``. The longer run is ``tests/bench/fuzz_long.py``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import fuzzing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CI_CASES = 1000


@pytest.fixture(scope="session")
def seeds(shared_data: Path, unpacked_data: Path) -> list[fuzzing.Seed]:
    return fuzzing.load_seeds(shared_data, unpacked_data)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="session")
def server():
    with fuzzing.CaseServer() as running:
        yield running


def test_mutators_really_damage_the_seeds(seeds: list[fuzzing.Seed]) -> None:
    changed = total = 0
    for n, seed in enumerate(seeds):
        for mutate in fuzzing.MUTATORS.values():
            total += 1
            changed += mutate(seed.files[0], random.Random(n), [s.files[0] for s in seeds[:3]]) != seed.files[0]
    assert changed / total > 0.9
    # the element-aware mutators find the elements that matter in real files
    located = {e.tag for e in fuzzing.locate(seeds[0].files[0])}
    assert {0x00280010, 0x00280011, 0x00200032, 0x00200037, 0x00280030, 0x00020010, 0x7FE00010} <= located


def test_mutation_corpus_never_crashes_or_hangs(seeds: list[fuzzing.Seed], workdir: Path, server,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = fuzzing.run_cases(fuzzing.corpus(seeds, CI_CASES), seeds, workdir, server)
    summary = fuzzing.summary(outcomes)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    with capsys.disabled():
        print(f"\nfuzz: {summary['cases']} cases {summary['by_status']}, refused somewhere in "
              f"{summary['refused_somewhere']}, worst time {summary['worst_seconds']}, "
              f"worst peak RSS {summary['worst_peak_rss_mb']} MB (forked from a server of "
              f"{summary['forked_from_rss_mb']} MB)")
    assert summary["findings"] == []
    # the corpus is neither harmless nor hopeless: many cases are refused, many still load
    assert summary["refused_somewhere"] > CI_CASES * 0.3
    assert sum(o.stages.get("load") == "ok" for o in outcomes) > CI_CASES * 0.1
    assert len({o.case.split("/")[0] for o in outcomes}) == len(seeds)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_cases_never_crash_or_hang(data: st.DataObject, seeds: list[fuzzing.Seed], workdir: Path,
                                             server) -> None:
    seed = data.draw(st.sampled_from([s.name for s in seeds]), label="seed")
    mutator = data.draw(st.sampled_from(sorted(fuzzing.MUTATORS)), label="mutator")
    rng_seed = data.draw(st.integers(min_value=10**6, max_value=2**63), label="rng_seed")
    outcome = fuzzing.run_case(fuzzing.Case(seed, mutator, rng_seed), {s.name: s for s in seeds}, workdir, server)
    assert outcome.status == "ok", (outcome.case, outcome.problems)
