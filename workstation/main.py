"""The ``workstation`` program: the GUI when called with no command, else the CLI.

It exists so that the CLI package never imports Qt: only the GUI flags
(``--demo``, ``--open``, ``--screenshot``, ``--view``, ``--self-test``), an
existing path (``workstation PATH``, as other viewers take one) or nothing
reach the app.
"""

from __future__ import annotations

import sys
from pathlib import Path

GUI_FLAGS = {"--demo", "--screenshot", "--self-test", "--open", "--view"}


def wants_gui(argv: list[str]) -> bool:
    if not argv or argv[0] in GUI_FLAGS or argv[0].startswith(tuple(f + "=" for f in GUI_FLAGS)):
        return True
    return not argv[0].startswith("-") and Path(argv[0]).exists()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if wants_gui(argv):
        from workstation.app.main import main as gui_main

        return gui_main(argv)
    from workstation.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
