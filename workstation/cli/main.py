"""``workstation SUBCOMMAND ...``: the command-line contract other tools call.

Each command lives in its own module with ``add_parser(subparsers)``, which
sets ``func(args) -> int`` on its parser; ``COMMANDS`` maps names to modules. Errors a user can act on print one
line to stderr and exit 2; anything else is logged with its traceback and
reported as one line pointing at the log, exit 3.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

import workstation
from workstation.errors import WorkstationError
from workstation.gui_options import add_gui_arguments
from workstation.logs import log_file, setup_logging

# command name -> module whose ``add_parser`` defines it. Only the module of the
# command being run is imported, so ``convert`` does not pay for pydicom or
# SimpleITK imports that ``demo-data`` or ``register`` need.
COMMANDS: dict[str, str] = {
    "scan": "workstation.cli.scan",
    "info": "workstation.cli.info",
    "convert": "workstation.cli.convert",
    "demo-data": "workstation.cli.demo",
    "anonymise": "workstation.cli.anonymise",
    "experiment": "workstation.cli.experiment",
    "register": "workstation.cli.register",
    "pacs": "workstation.cli.pacs",
    "library": "workstation.cli.library",
    "segment": "workstation.cli.segment",
}


class _VersionAction(argparse.Action):
    """Prints the version only when asked: reading it costs ~20 ms that other commands need not pay."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"workstation {workstation.__version__}")
        parser.exit()


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a known command, only that command's module is imported."""
    parser = argparse.ArgumentParser(prog="workstation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    add_gui_arguments(parser.add_argument_group(
        "the program's window (workstation [PATH] [OPTIONS]; PATH: a DICOM folder or file, an image file or a "
        "run folder)"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = [a for a in (argv or []) if not a.startswith("-")][:1]
    modules = [COMMANDS[wanted[0]]] if wanted and wanted[0] in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logger = setup_logging()
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # answered without importing every command's module
        print(f"workstation {workstation.__version__}")
        return 0
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: nothing to report
        return 0
    except KeyboardInterrupt:
        print("workstation: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an optional part (e.g. dask for experiments) left out of this install
        logger.info("command %s needs a missing module", args.command, exc_info=True)
        print(f"workstation {args.command}: this installation does not include the Python package "
              f"'{exc.name}' that the command needs (pip install it, or use the pip-installed workstation)",
              file=sys.stderr)
        return 2
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
