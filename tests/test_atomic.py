"""atomic_output: the finished file has the mode the umask gives any new file, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from workstation.atomic import atomic_output


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_written_file_has_the_umask_mode(tmp_path: Path, umask: int) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # the mode the operating system gives a new file under this umask: the reference
    target = tmp_path / "out.txt"
    with atomic_output(target, "text") as tmp:
        tmp.write_text("x")
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode)
    if umask == 0o022:
        assert mode == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial-")] == []
