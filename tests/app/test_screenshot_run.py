"""``workstation --demo --screenshot OUT.png`` and its failure path, as a user runs them (a real process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

from workstation.app.main import SCREENSHOT_SIZE


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workstation", *args], capture_output=True, text=True,
                          timeout=300)


def test_demo_screenshot_shows_the_window_with_every_view(tmp_path: Path, qapp) -> None:
    out = tmp_path / "shot.png"
    done = _run("--demo", "--screenshot", str(out))
    assert done.returncode == 0, done.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(rgb.constBits(), np.uint8, rgb.sizeInBytes()).reshape(rgb.height(), -1)
    w = image.width()
    pixels = pixels[:, : 3 * w].reshape(image.height(), w, 3)
    middle = pixels[100:-200, 450:-400]  # the views, away from the docks
    h, v = middle.shape[0] // 2, middle.shape[1] // 2
    # axial, coronal, sagittal and 3D each drew something
    for quad in (middle[:h, :v], middle[:h, v:], middle[h:, :v], middle[h:, v:]):
        assert quad.std() > 10
    assert np.any(np.abs(pixels[..., 0].astype(int) - pixels[..., 2].astype(int)) > 40)  # the coloured 3D render


def test_a_screenshot_of_nothing_fails_with_one_line(tmp_path: Path, qapp) -> None:
    missing = tmp_path / "nowhere"
    done = _run("--open", str(missing), "--screenshot", str(tmp_path / "x.png"))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("workstation:")]
    assert len(lines) == 1 and str(missing) in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()
