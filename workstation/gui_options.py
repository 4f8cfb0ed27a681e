"""The program's window options, Qt-free: the GUI parses them, and ``workstation --help`` lists them too.

``workstation.main`` sends these flags, an existing path or no argument at
all to the window and everything else to the command line, which never
imports Qt; the help of both tells the whole story from one definition.
"""

from __future__ import annotations

import argparse
from pathlib import Path

VIEWS = ("axial", "coronal", "sagittal", "3d")
NO_DISPLAY = ("workstation: no display found (DISPLAY and WAYLAND_DISPLAY are unset): run it in a desktop session, "
              "over ssh -X, or under xvfb-run -a; the commands (workstation --help) need none")


def add_gui_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The GUI's options; the command line's ``--help`` lists them too."""
    parser.add_argument("--demo", action="store_true", help="open the built-in demo study")
    parser.add_argument("--open", metavar="PATH",
                        help="open a DICOM folder or file (not imported), an image file (.nii, .nii.gz, .nrrd, "
                             ".mha, .mhd) or a run folder of 'workstation experiment run'")
    parser.add_argument("--screenshot", metavar="OUT.png", type=Path,
                        help="write a screenshot of the window (or of --view) once the series has loaded, then exit")
    parser.add_argument("--view", choices=VIEWS, help="with --screenshot: write only this view's frame")
