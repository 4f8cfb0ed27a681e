"""The first window opens without the libraries only later work needs: a guard for the start-up time.

Importing pydicom (with its pixel handlers, GDCM and requests), highdicom,
SimpleITK, dask or pynetdicom cost about 1 s of the 2.4 s of CPU a start
took (``packaging/measure_startup.py``; ``python -X importtime -m
workstation`` names them). The modules that need them import them where
first used, so a module-level import of one of them anywhere on the
window's path would bring the cost back; this test notices that.

The program runs as a user starts it (``workstation`` with no argument) in
a fresh interpreter, with ``WORKSTATION_EXIT_AFTER_SHOW=1`` (the flag
``packaging/measure_startup.py`` uses); the loaded modules are read at the
moment it reports its window shown, on the GUI thread, before it quits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

NOT_AT_START = ("SimpleITK", "pydicom", "highdicom", "gdcm", "pylibjpeg", "openjpeg", "jpeg_ls", "requests",
                "dask", "distributed", "pynetdicom", "dicomweb_client")
"""Top-level packages the first window must not have imported."""

SHOWN_WITH = ("workstation.app.main_window", "widgets.viewer", "vtkmodules.vtkRenderingOpenGL2", "PySide6.QtWidgets")
"""What the window is made of: present in the snapshot, they show it was taken once the window was built."""

# Runs `workstation` (no argument) through its real entry point and writes the names in sys.modules at the moment
# the program prints "window shown at", which it does on its first event-loop turn after showing the window.
PROGRAM = """
import json, sys
from workstation.main import main

class Snapshot:
    def __init__(self, stream):
        self.stream, self.modules = stream, None
    def write(self, text):
        if self.modules is None and "window shown at" in text:
            self.modules = sorted(sys.modules)
        return self.stream.write(text)
    def flush(self):
        self.stream.flush()

out = sys.stdout = Snapshot(sys.stdout)
status = main([])
sys.stdout = out.stream
print(json.dumps({"status": status, "modules": out.modules}))
"""


def test_the_first_window_imports_no_dicom_itk_network_or_batch_library(tmp_path: Path) -> None:
    env = {**os.environ, "WORKSTATION_HOME": str(tmp_path), "WORKSTATION_EXIT_AFTER_SHOW": "1"}
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["status"] == 0
    modules = report["modules"]
    assert modules is not None, "the program never reported its window shown"
    assert set(SHOWN_WITH) <= set(modules)
    early = sorted(name for name in modules if name.split(".")[0] in NOT_AT_START)
    assert early == [], f"imported before the first window was shown: {early}"
