"""Shared fixtures: the real data sets of ../shared/data and an isolated user folder.

The archived sets are unpacked into ``.test-data/`` (git-ignored) once per
run; a missing data set fails the test that needs it, it never skips.
"""

from __future__ import annotations

import faulthandler
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WORKSTATION_SHARED_DATA", ROOT.parent / "shared" / "data"))
TEST_DATA = Path(os.environ.get("WORKSTATION_TEST_DATA", ROOT / ".test-data"))


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"real data set missing: {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only ../shared/data folder."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def unpacked_data(shared_data: Path) -> Path:
    """The archived sets unpacked into .test-data (idempotent, ~5 s the first time)."""
    done = subprocess.run([sys.executable, str(shared_data / "unpack"), str(TEST_DATA)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"could not unpack the test data: {done.stderr.strip() or done.stdout.strip()}")
    return TEST_DATA


@pytest.fixture(scope="session")
def cirs_ct(unpacked_data: Path) -> Path:
    return _require(unpacked_data / "cirs057a" / "ct")


@pytest.fixture(scope="session")
def cirs_mr(unpacked_data: Path) -> Path:
    return _require(unpacked_data / "cirs057a" / "mr")


@pytest.fixture(scope="session")
def dcm_qa_vendor(unpacked_data: Path) -> Path:
    """dcm2niix's vendor cases (UIH, Philips) with its reference outputs in each ``Ref/``."""
    return _require(unpacked_data / "dcm_qa_vendor")


@pytest.fixture(scope="session")
def dcm_qa_ts(shared_data: Path) -> Path:
    return _require(shared_data / "dcm_qa_ts")


@pytest.fixture(scope="session")
def seg_samples(shared_data: Path) -> Path:
    """SEGs by dcmqi with their label maps and images, and an RTSTRUCT by rt-utils with its CT."""
    return _require(shared_data / "seg_samples")


@pytest.fixture(scope="session")
def decubitus(shared_data: Path) -> Path:
    """The folder holding HFS, HFP, HFDR and HFDL."""
    return _require(shared_data / "dcm_qa_decubitus" / "In")


@pytest.fixture(autouse=True)
def workstation_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user data, log and settings folder."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("WORKSTATION_HOME", str(home))
    return home


WATCHDOG_SECONDS = 900
"""A test not ended this long after it started is stuck where pytest-timeout (600 s) cannot act.

pytest-timeout raises from a signal handler or a Python thread; both need the GIL. A deadlock in C code that
holds it (CI hung 20 minutes on one: VTK's garbage collector against a SimpleITK destructor) stops both, so
faulthandler's C watchdog writes every thread's stack to ``STUCK_TEST`` and ends the run (exit 1)."""
STUCK_TEST = ROOT / "stuck-test.txt"
_stuck_file = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ANN201 - a hook wrapper
    """Arm the watchdog for the test's setup, call and teardown; the file names the test while it runs."""
    global _stuck_file
    if _stuck_file is None:
        _stuck_file = open(STUCK_TEST, "w")  # noqa: SIM115 - open for the whole run: faulthandler writes to it
    _stuck_file.seek(0)
    _stuck_file.truncate()
    _stuck_file.write(f"stuck for {WATCHDOG_SECONDS} s in {item.nodeid}\n")
    _stuck_file.flush()
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True, file=_stuck_file)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        _stuck_file.seek(0)
        _stuck_file.truncate()
        _stuck_file.flush()


_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End a GUI test run before interpreter teardown can touch a dead X server.

    pytest-xvfb stops Xvfb in an ``atexit`` handler, while the session's
    QApplication and VTK's own X connections are still alive; their teardown
    then hits the closed display and Xlib/Qt call ``exit(1)`` after every test
    passed ("XIO: fatal IO error", "The X11 connection broke"). So once the
    summary is printed and every plugin is unconfigured, stop Xvfb and leave
    with the real exit status, skipping that teardown.
    """
    if "PySide6.QtWidgets" not in sys.modules and "vtkmodules" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    import pytest_xvfb

    pytest_xvfb.shutdown_xvfb()
    os._exit(_exit_status)
