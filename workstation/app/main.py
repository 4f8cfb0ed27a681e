"""``workstation`` with no command: the GUI, optionally on the demo study or a path, or as a screenshot run.

``workstation PATH`` and ``--open PATH`` open a DICOM folder or file, an
image file (NIfTI, NRRD, MetaImage) or a run folder of ``workstation
experiment run``. ``--demo --screenshot OUT.png`` opens the demo study in
the 2x2 layout, waits until the volume has fully loaded, renders every view,
writes the window as a PNG and exits 0; with ``--view axial|coronal|
sagittal|3d`` it writes that one view's frame instead (figures for papers,
checks from outside). Any failure on the way is one line on stderr and
exit 2. Without a display the program says so in one line instead of
letting Qt abort.
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
from workstation.gui_options import NO_DISPLAY, add_gui_arguments
from workstation.logs import setup_logging

log = logging.getLogger("workstation.app")

SCREENSHOT_SIZE = (1800, 1100)
SETTLE_MS = 300
"""Time for the layout to settle and the views to get their final size before the capture."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workstation", description="Desktop DICOM workstation (GUI).")
    parser.add_argument("--version", action="version", version=f"workstation {__version__}")
    parser.add_argument("path", nargs="?", metavar="PATH", help="a path to open (as --open)")
    add_gui_arguments(parser)
    parser.add_argument("--self-test", action="store_true",
                        help="check the installation (decoders, library, one rendered frame) and exit")
    return parser


class ScreenshotRun:
    """Waits for the first volume to finish loading, captures the window and quits with a status."""

    def __init__(self, app: QApplication, window: MainWindow, out: Path, view: str | None = None) -> None:
        self.app, self.window, self.out, self.view = app, window, out, view
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
            if self.view is None:
                self.window.save_screenshot(self.out)
            else:
                self.window.export_view_png(self.view, self.out)
        except WorkstationError as exc:
            self._failed(str(exc))
            return
        self.status = 0
        self.window.close()

    def _failed(self, message: str) -> None:
        print(f"workstation: {message}", file=sys.stderr)
        self.status = 2
        self.window.close()


def has_display() -> bool:
    """Whether Qt can open a window: an X or Wayland display, or a platform chosen explicitly (offscreen)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
                or sys.platform in ("win32", "darwin"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.self_test:  # no window: the packaging self-test renders offscreen
        from workstation.app.selftest_render import self_test

        return self_test()
    args.open = args.open or args.path
    if args.view is not None and args.screenshot is None:
        print("workstation: --view needs --screenshot OUT.png", file=sys.stderr)
        return 2
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
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
        run = ScreenshotRun(app, window, args.screenshot, args.view)
    window.show()
    if os.environ.get("WORKSTATION_EXIT_AFTER_SHOW"):  # start-up timing (packaging/measure_startup.py)
        QTimer.singleShot(0, lambda: (print(f"window shown at {time.time():.3f}", flush=True), app.quit()))
    window.list_library()
    if args.demo:
        window.open_demo()
    elif args.open:
        window.open_path(args.open)
    status = app.exec()
    return run.status if run is not None else status
