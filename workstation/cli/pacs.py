"""``workstation pacs echo|find|retrieve|send|listen``: query, retrieve, send and receive over DIMSE or DICOMweb.

NODE is ``AET@HOST:PORT`` (DIMSE), ``http(s)://HOST:PORT/PATH`` (DICOMweb)
or the name of a node in the PACS settings file. Our AE title comes from
``--ae-title`` or the settings (default WORKSTATION). Every failure is one
line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from workstation.cli.info import cli_progress
from workstation.errors import NetworkError
from workstation.jobs import Job, no_progress, run_job


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("pacs", help="query, retrieve, send and receive (DIMSE and DICOMweb)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="pacs_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, node: bool = True) -> None:
        if node:
            p.add_argument("node", metavar="NODE", help="AET@HOST:PORT, http(s)://HOST:PORT/PATH or a node name")
        p.add_argument("--ae-title", help="our AE title (default: the settings', else WORKSTATION)")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the peer (default 30)")

    echo = sub.add_parser("echo", help="C-ECHO (or a QIDO-RS request for a DICOMweb node)")
    common(echo)
    echo.set_defaults(func=run_echo)

    find = sub.add_parser("find", help="C-FIND / QIDO-RS; prints JSON")
    common(find)
    find.add_argument("--level", choices=("patient", "study", "series"), default="study")
    find.add_argument("--patient-id", default="")
    find.add_argument("--patient-name", default="", help="wildcards * and ? allowed")
    find.add_argument("--birth-date", default="", help="YYYYMMDD")
    find.add_argument("--study-date", default="", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    find.add_argument("--modality", default="")
    find.add_argument("--accession", default="")
    find.add_argument("--description", default="", help="study (or series, at series level) description")
    find.add_argument("--study-uid", default="")
    find.add_argument("--json", action="store_true", help="JSON output (the only format; accepted for scripts)")
    find.set_defaults(func=run_find)

    retrieve = sub.add_parser("retrieve", help="C-GET, C-MOVE or WADO-RS into the library")
    common(retrieve)
    retrieve.add_argument("--study-uid", required=True)
    retrieve.add_argument("--series-uid", default="")
    retrieve.add_argument("--method", choices=("get", "move"), default="get", help="DIMSE only (default get)")
    retrieve.add_argument("-o", "--output", type=Path, help="also keep the received files in this folder")
    retrieve.set_defaults(func=run_retrieve)

    send = sub.add_parser("send", help="C-STORE / STOW-RS files or folders")
    common(send)
    send.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    send.set_defaults(func=run_send)

    listen = sub.add_parser("listen", help="storage listener: receive into the library until interrupted")
    common(listen, node=False)
    listen.add_argument("--port", type=int, help="TCP port (default: the settings', else 11112)")
    listen.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    listen.add_argument("--allow", nargs="+", default=[], metavar="AET",
                        help="calling AE titles accepted, besides the settings' and the known nodes'")
    listen.set_defaults(func=run_listen)


def _context(args: argparse.Namespace):  # noqa: ANN202 - (settings, node)
    from workstation.net.nodes import check_ae_title, load_settings, parse_node

    settings = load_settings()
    if args.ae_title:
        settings.ae_title = check_ae_title(args.ae_title)
    node = parse_node(args.node, settings) if getattr(args, "node", None) else None
    return settings, node


def run_echo(args: argparse.Namespace) -> int:
    from workstation.net import dimse, web

    settings, node = _context(args)
    if node.is_web:
        elapsed = web.echo(node, args.timeout)
        print(f"{node}: DICOMweb service answered in {elapsed * 1000:.0f} ms")
    else:
        elapsed = dimse.echo(node, settings.ae_title, args.timeout)
        print(f"{node}: C-ECHO succeeded in {elapsed * 1000:.0f} ms")
    return 0


def run_find(args: argparse.Namespace) -> int:
    from workstation.net import dimse, web

    settings, node = _context(args)
    query = dimse.Query(level=args.level, patient_id=args.patient_id, patient_name=args.patient_name,
                        birth_date=args.birth_date, study_date=args.study_date, modality=args.modality,
                        accession=args.accession, description=args.description, study_uid=args.study_uid)
    matches = web.find(node, query, args.timeout) if node.is_web else \
        dimse.find(node, query, settings.ae_title, args.timeout)
    json.dump(matches, sys.stdout, indent=1)
    print()
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    from workstation.net import dimse, web

    settings, node = _context(args)
    if node.is_web:
        job = Job(web.retrieve, node, args.study_uid, args.series_uid, args.output, timeout=args.timeout)
    else:
        job = Job(dimse.retrieve, node, args.study_uid, args.series_uid, args.method, args.output, settings,
                  timeout=args.timeout)
    count = run_job(job, cli_progress() or no_progress)
    print(f"{count} objects received into the library" + (f" and {args.output}" if args.output else ""))
    return 0


def run_send(args: argparse.Namespace) -> int:
    from workstation.dicom.scan import list_files
    from workstation.net import dimse, web

    settings, node = _context(args)
    files: list[Path] = []
    for path in args.paths:
        if not path.exists():
            raise NetworkError("no such file or folder", path)
        files += [Path(entry.path) for entry in list_files(no_progress, None, path).files]
    if not files:
        raise NetworkError("nothing to send (no files found)")
    job = Job(web.send, node, files, args.timeout) if node.is_web else \
        Job(dimse.send, node, files, settings.ae_title, args.timeout)
    count = run_job(job, cli_progress() or no_progress)
    print(f"{count} files sent to {node}")
    return 0


def run_listen(args: argparse.Namespace) -> int:
    from workstation.dicom.library import Library
    from workstation.net.listener import Listener

    settings, _ = _context(args)
    allowed = [*args.allow, *settings.allowed_callers, *(n.ae_title for n in settings.nodes if n.ae_title)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Library() as library, Listener(library, settings.ae_title, args.port or settings.listen_port,
                                        args.host or settings.listen_host, allowed,
                                        on_change=lambda state: print(state, file=sys.stderr, flush=True)):
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0
