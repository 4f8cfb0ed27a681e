"""The ``workstation`` program: the GUI when called with no command, else the CLI.

It exists so that the CLI package never imports Qt: only the GUI flags
(``--demo``, ``--screenshot``, ``--self-test``, or nothing) reach the app.
"""

from __future__ import annotations

import sys

GUI_FLAGS = {"--demo", "--screenshot", "--self-test", "--open"}


def wants_gui(argv: list[str]) -> bool:
    return not argv or argv[0] in GUI_FLAGS or argv[0].startswith(tuple(f + "=" for f in GUI_FLAGS))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if wants_gui(argv):
        from workstation.app.main import main as gui_main

        return gui_main(argv)
    from workstation.cli.main import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
