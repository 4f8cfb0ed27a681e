"""``workstation`` with no command: the GUI, optionally on the demo study or a folder, or as a screenshot run.

``--demo --screenshot OUT.png`` opens the demo study in the 2x2 layout,
waits until the volume has fully loaded, renders every view, writes the
window as a PNG and exits 0; any failure on the way is one line on stderr
and exit 2. That run makes the README's screenshot and is the GUI's smoke
test.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from workstation import __version__
from workstation.app.main_window import MainWindow
from workstation.errors import WorkstationError
from workstation.logs import setup_logging

log = logging.getLogger("workstation.app")

SCREENSHOT_SIZE = (1800, 1100)
SETTLE_MS = 300
"""Time for the layout to settle and the views to get their final size before the capture."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workstation", description="Desktop DICOM workstation (GUI).")
    parser.add_argument("--version", action="version", version=f"workstation {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo study")
    parser.add_argument("--open", metavar="PATH", help="open a DICOM folder or file without importing it")
    parser.add_argument("--screenshot", metavar="OUT.png", type=Path,
                        help="write a screenshot of the window once the series has loaded, then exit")
    parser.add_argument("--self-test", action="store_true",
                        help="check the installation (decoders, library, one rendered frame) and exit")
    return parser


class ScreenshotRun:
    """Waits for the first volume to finish loading, captures the window and quits with a status."""

    def __init__(self, app: QApplication, window: MainWindow, out: Path) -> None:
        self.app, self.window, self.out = app, window, out
        self.status = 2
        window.volumeLoaded.connect(self._loaded)
        window.jobFailed.connect(self._failed)

    def _loaded(self, _key: str) -> None:
        self.window.set_layout("2x2")
        QTimer.singleShot(SETTLE_MS, self._capture)

    def _capture(self) -> None:
        if self.window.busy():  # thumbnails still coming: the picture should show them
            QTimer.singleShot(100, self._capture)
            return
        try:
            self.window.save_screenshot(self.out)
        except WorkstationError as exc:
            self._failed(str(exc))
            return
        self.status = 0
        self.window.close()

    def _failed(self, message: str) -> None:
        print(f"workstation: {message}", file=sys.stderr)
        self.status = 2
        self.window.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test:  # no window: the packaging self-test renders offscreen
        from workstation.app.selftest_render import self_test

        return self_test()
    setup_logging()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Workstation")
    app.setApplicationVersion(__version__)
    window = MainWindow(persist=args.screenshot is None)
    run = None
    if args.screenshot is not None:
        if not (args.demo or args.open):
            print("workstation: --screenshot needs --demo or --open PATH", file=sys.stderr)
            return 2
        window.resize(*SCREENSHOT_SIZE)
        run = ScreenshotRun(app, window, args.screenshot)
    window.show()
    if os.environ.get("WORKSTATION_EXIT_AFTER_SHOW"):  # start-up timing (packaging/measure_startup.py)
        QTimer.singleShot(0, lambda: (print(f"window shown at {time.time():.3f}", flush=True), app.quit()))
    window.list_library()
    if args.demo:
        window.open_demo()
    elif args.open:
        window.open_folder(args.open)
    status = app.exec()
    return run.status if run is not None else status
