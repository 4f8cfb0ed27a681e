"""``workstation SUBCOMMAND ...``: the command-line contract other tools call.

Each command lives in its own module with ``add_parser(subparsers)``, which
sets ``func(args) -> int`` on its parser. Errors a user can act on print one
line to stderr and exit 2; anything else is logged with its traceback and
reported as one line pointing at the log, exit 3.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from workstation import __version__
from workstation.errors import WorkstationError
from workstation.logs import log_file, setup_logging

COMMAND_MODULES = [
    "workstation.cli.demo",
    "workstation.cli.experiment",
    "workstation.cli.anonymise",
    "workstation.cli.info", "workstation.cli.convert",
    "workstation.cli.scan",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workstation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"workstation {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logger = setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("workstation: interrupted", file=sys.stderr)
        return 130
    except WorkstationError as exc:
        logger.info("command %s failed: %s", args.command, exc, exc_info=True)
        print(f"workstation {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: log it, say one line
        logger.error("command %s crashed", args.command, exc_info=True)
        print(f"workstation {args.command}: internal error ({type(exc).__name__}); details in {log_file()}",
              file=sys.stderr)
        logging.shutdown()
        return 3


if __name__ == "__main__":
    sys.exit(main())
