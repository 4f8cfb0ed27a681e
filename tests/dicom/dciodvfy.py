"""dciodvfy (Debian package dicom3tools), the independent check that an object we write follows its IOD."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def dciodvfy_errors(path: Path) -> list[str]:
    """The "Error" lines dciodvfy prints for ``path``; the test fails when the tool is missing."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.fail("dciodvfy is missing: apt-get install dicom3tools (listed in .ci/system-packages.txt)")
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]
