"""``workstation --self-test``: the report's lines, its exit status, and what makes a check fail or skip."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workstation.app.selftest_render import check_render, self_test
from workstation.selftest import Skipped, run_self_test
from workstation.selftest_samples import SAMPLES, Sample, check_sample

CHECKS = ("version", "decode", "demo study", "registration", "about", "render")


def _lines(text: str) -> dict[str, str]:
    """Check name -> status, from the report's ``STATUS name: detail`` lines."""
    out = {}
    for line in text.splitlines():
        status, _, rest = line.partition(" ")
        if status in ("PASS", "FAIL", "SKIP"):
            out[rest.split(":", 1)[0]] = status
    return out


def test_every_check_passes_in_process_and_the_frame_renders(capsys: pytest.CaptureFixture[str]) -> None:
    assert os.environ.get("DISPLAY")  # pytest-xvfb's display: the render check must run, not skip
    assert self_test() == 0
    report = capsys.readouterr().out
    assert _lines(report) == dict.fromkeys(CHECKS, "PASS")
    assert f"{len(SAMPLES)} transfer syntaxes" in report
    for sample in SAMPLES:
        assert sample.name in report
    assert report.rstrip().endswith("OK: 6 passed, 0 failed, 0 skipped")


def test_the_installed_command_without_a_display_skips_only_the_frame(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["WORKSTATION_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-m", "workstation", "--self-test"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _lines(done.stdout) == {**dict.fromkeys(CHECKS, "PASS"), "render": "SKIP"}
    assert "SKIP render: no display" in done.stdout
    assert not (tmp_path / "home").exists()  # the self-test works in a temporary folder, not the user's


def test_a_failing_check_is_reported_and_the_others_still_run() -> None:
    def broken(_folder: Path) -> str:
        raise ValueError("decoder gave\nnonsense")

    def fine(folder: Path) -> str:
        assert folder.is_dir() and not any(folder.iterdir())
        return "fine"

    out = io.StringIO()
    assert run_self_test([("broken", broken), ("fine", fine)], out) == 1
    report = out.getvalue()
    assert "FAIL broken: ValueError: decoder gave nonsense" in report  # one line, however the error was worded
    assert _lines(report) == {"broken": "FAIL", "fine": "PASS"}
    assert report.rstrip().endswith("FAILED: 1 passed, 1 failed, 0 skipped")


def test_a_missing_pixel_plugin_fails_the_syntax_even_when_another_plugin_decodes_it(tmp_path: Path) -> None:
    rle = next(s for s in SAMPLES if s.name == "RLE lossless")
    demanding = Sample(rle.name, rle.syntax, rle.write, (*rle.plugins, "no-such-plugin"))
    with pytest.raises(RuntimeError, match="pixel plugins missing: no-such-plugin"):
        check_sample(demanding, tmp_path / "rle")


def test_a_lossy_sample_must_stay_within_its_tolerance(tmp_path: Path) -> None:
    j2k = next(s for s in SAMPLES if s.name == "JPEG 2000")
    strict = Sample(j2k.name, j2k.syntax, j2k.write, j2k.plugins, tolerance=0.0)
    try:
        check_sample(strict, tmp_path / "j2k")
    except RuntimeError as exc:
        assert "mean error" in str(exc)
    else:
        pytest.fail("lossy JPEG 2000 came back exact: the sample does not test a lossy decode")


def test_the_frame_check_skips_without_a_display(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(Skipped, match="no display"):
        check_render(tmp_path)


def test_the_credits_check_names_a_component_without_metadata(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    from workstation import licences
    from workstation.app import selftest_render

    credited = [*licences.components(), licences.Component("Nothing", "MIT", "no-such-distribution")]
    monkeypatch.setattr(selftest_render, "components", lambda: credited)
    with pytest.raises(RuntimeError, match="no version .* for no-such-distribution$"):
        selftest_render.check_about(tmp_path)
