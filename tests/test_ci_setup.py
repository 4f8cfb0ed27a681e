"""The newcomer's set-up: README's two commands, the one system package list, .ci/run, the CLI table.

These keep the documentation honest as the project grows: a command added to
the CLI without a README line, or a package list that drifts from what
.ci/run installs, fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from workstation.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PACKAGE_LIST = ".ci/system-packages.txt"


def setup_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```\n(.*?)```", section, flags=re.S)]


def test_readme_gives_exactly_two_setup_commands() -> None:
    demo, tests = setup_commands()
    assert "\n" not in demo and "\n" not in tests
    assert f"xargs -a {PACKAGE_LIST} $S apt-get install -y" in demo
    # as root (CI, containers) there is no sudo: the prefix the line computes must then be empty
    prefix = demo.split(";", 1)[0]
    expected = "" if os.geteuid() == 0 else "sudo"
    assert subprocess.run(["bash", "-c", f'{prefix}; printf %s "$S"'], capture_output=True, text=True,
                          check=True).stdout == expected
    assert demo.endswith(".venv/bin/workstation --demo")
    assert tests == "bash .ci/run"


def test_ci_installs_from_the_same_package_list_and_is_valid_bash() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in script and PACKAGE_LIST in script
    assert subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")]).returncode == 0
    packages = (ROOT / PACKAGE_LIST).read_text(encoding="utf-8").split()
    assert {"xvfb", "libgl1", "libxcb-cursor0", "python3-venv"} <= set(packages)
    for package in packages:  # each name is a real Debian package: CI installed it from this list
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        assert status.stdout == "install ok installed", package


def test_every_cli_command_is_documented_in_the_readme() -> None:
    assert "demo-data" in COMMANDS
    for name in COMMANDS:
        assert f"`workstation {name} " in README, f"README lacks a line for `workstation {name}`"
