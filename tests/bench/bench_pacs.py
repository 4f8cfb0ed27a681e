"""Benchmark: PACS transfers on loopback against a real Orthanc, with the cirs057a CT (283 files, 148 MB).

Run on demand (not collected by default)::

    .venv/bin/python tests/bench/bench_pacs.py [--repeats 1] [--only C-GET|WADO-RS|receive]

In one run, peers interleaved round by round, median of ``repeats``. Each
transfer writes into a new folder made before its timing, and nothing is
deleted until the run ends: deleting a round's 283 files just before the next
made ext4 search its recently freed inodes on every file created, a cost a
user's retrieve never pays. CPU time is printed beside wall time (ours in this
process, the peers as children; Orthanc's own CPU is in neither).

1. C-GET of the CT study from Orthanc: ours (``dimse.retrieve`` into an
   empty library) against dcmtk's ``getscu`` as shipped (Nagle's algorithm
   on) and with ``TCP_NODELAY=1``. Orthanc itself runs with dcmtk's default
   (Nagle on), as a stock install does.
2. WADO-RS of the same study: ours (``web.retrieve``: each object's header
   checked, written to a file of its own, indexed) against ``curl`` writing
   the plain multipart answer to one file. Two floors beside them: our
   download and split alone, the parts written to one file, or each to a new
   file of its own, nothing checked or indexed.
3. Receiving the CT sent by dcmtk's ``storescu``: ``workstation pacs listen``
   (a separate process, importing into its library) against dcmtk's
   ``storescp -od``; the listener's peak RSS before and after receiving the
   CT and the MR (635 files, 280 MB) shows whether memory is bounded.

Targets (issue 18): each of ours <= 1.0x its peer's wall time. This 2-core
machine is shared: read the ratios of one run, not the seconds. Our network
modules are imported before the timings (the import time is printed): the
peers are timed on their transfers, and so are we.

Full run 2026-12-01 20:35-20:40, load average 0.1-1.1, ``--repeats 3``:

=================================  =======  ========  =====  ==============
transfer                           ours     peer      ratio  CPU ours/peer
=================================  =======  ========  =====  ==============
C-GET / getscu (as shipped)        3.27 s   14.31 s   0.23x  2.44 / 0.62 s
C-GET / getscu TCP_NODELAY=1       3.27 s   1.09 s    3.01x
WADO-RS / curl                     0.89 s   0.33 s    2.73x  0.99 / 0.24 s
split to one file / curl           0.34 s   0.33 s    1.05x  0.16 / 0.24 s
split to 283 files / curl          0.48 s   0.33 s    1.46x  0.43 / 0.24 s
receive / storescp (as shipped)    2.97 s   13.84 s   0.21x
receive / storescp TCP_NODELAY=1   2.85 s   0.77 s    3.71x
=================================  =======  ========  =====  ==============

Listener peak RSS 82 MB idle, 88 MB after the CT, 91 MB after CT and MR.

C-GET and receiving. dcmtk's tools as shipped take about 40 ms an object:
since dcmtk 3.6.2 Nagle's algorithm is left on (``TCP_NODELAY=1`` in the
environment turns it off), so each small response waits for the peer's
delayed acknowledgement. Our sockets set TCP_NODELAY. Against dcmtk without
Nagle, what remains is pynetdicom's hand-offs (timestamps around our C-STORE
handler, medians per object, load 4.5): the handler (check, write, index)
2.4 ms; from its end to our C-STORE-RSP on the wire 1.9 ms (pynetdicom's
network thread polls its queue every 1 ms and waits for a core); from our
response to Orthanc's next bytes 1.9 ms; an object's 6 PDUs read one per
turn of pynetdicom's reactor. Kept: one ``recv`` a PDU instead of
pynetdicom's 4 kB reads, the received file's meta written by us instead of
built as a pydicom data set. Measured and not kept (no change beyond the
noise): a larger or 16 kB maximum PDU, waking pynetdicom's network thread by
a socket pair instead of its 1 ms polling, TCP_QUICKACK around every read, a
shorter GIL switch interval.

WADO-RS: the target is out of reach on this machine. Orthanc spends 0.25-0.35
s of CPU on one core making the answer, and curl's wall time is that: its own
0.24 s of CPU fits on the other core. Our download and split cost what curl
costs (split to one file: 1.05x; 1.08x and 1.05x in two ``--only WADO-RS
--repeats 5`` runs at 20:40). Writing the same parts as 283 new files, with
nothing checked or indexed, is already over curl's time: 1.46x above, 1.14x
and 1.59x in those two runs, 1.07x in a run at 20:33. Our process spends
0.23-0.50 s of CPU writing them against 0.14-0.16 s as one file (same runs):

- ``perf``: the copy into a new file's page-cache pages
  (``copy_folio_from_iter_atomic``) runs several times slower than into one
  growing file. Written by a plain loop (kernel time, 283 objects, three
  runs): 0.14-0.16 s as a file each, 0.09 s as 4 objects a file, 0.08 s as
  16, 0.07 s as one file.
- This VM (Firecracker, nested virtualisation) reports free memory back to
  its host (``page_reporting.page_reporting_order=11``), so new page-cache
  memory faults in the host on first touch. The same 283 writes took 0.09 s
  right after freeing memory, 0.82-0.90 s with 12 GB held in page cache.
- ext4 here has no journal, so creating an inode scans recently deleted ones
  (``recently_deleted`` in ``perf``: 4-30 % of the kernel time, the more
  the more files were deleted in the seconds before).

One file per object is the library's layout and every PACS client's, so no
retrieve into the library can go below that floor. Ours adds what the floor
skips: each header checked (0.11 s for 283 in isolation, about 0.2 s inside a
transfer, where the caches hold the streamed bytes) and indexed (0.04-0.1 s),
so 2.25-3.0x on this quiet machine; under load 3-3.6 it measured 1.30-1.65x,
as curl loses more than we do to a busy machine. Decomposed by a driver
holding one Orthanc (20:34, medians of five interleaved rounds, wall / CPU):
curl 0.36 / 0.25 s; split to 283 files 0.53 / 0.47; plus the header check
0.70 / 0.65; plus the temporary name, ``fstat`` and rename 0.69 / 0.62; plus
the library (open, 5 transactions, close) 0.95 / 0.79; ``web.retrieve`` with
its threads and the QIDO-RS count 0.82 / 0.88.

Kept: parts split as the bytes arrive, a part with a Content-Length read by
that length (its bytes land in the object once); 4 writer threads (file
creation releases the GIL); each header read from the received bytes before
its file is written; one transaction per 64 objects or 100 ms; the QIDO-RS
count asked while the download starts. Measured and not kept:

- 1, 2 or no writer threads, or 3x more objects in flight: within the noise.
- Concurrent requests by instance: 4.6-5.7 s, as Orthanc's list of a study's
  instances alone takes 1.2-1.7 s.
- Writing at the final name (no temporary name and rename): no difference.
- Writes in 16-256 kB pieces instead of one: no better.
- The cyclic garbage collector off during the retrieve: no difference.
- pydicom ``specific_tags`` for the header check: 1.3 ms an object against
  0.45 ms for our scanner of the whole header.
- The library looking a batch's series rows up once: 0.030 s against 0.035 s
  for 283 objects, not worth the code.
- A 0.5 ms GIL switch interval; 4-8 MB network reads: within the noise.
- O_DIRECT writes (no page cache): more CPU and more wall time.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("WORKSTATION_TEST_DATA", ROOT / ".test-data")) / "cirs057a"
CT_STUDY = "1.2.840.113619.2.290.3.3233817346.783.1399004564.509"
ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'

from tests.net.orthanc import AET, Orthanc, free_port, require_tool  # noqa: E402


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU used so far by this process (ours run in it) and by its finished children (the peers): a transfer's
    CPU is the difference, less noisy than its wall time on this shared machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(cmd: list[str], nodelay: bool, cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "TCP_NODELAY": "1" if nodelay else "0"})
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {done.stderr[-400:]}")


def fresh(parent: Path, name: str) -> Path:
    """A new empty folder for each timed transfer; nothing is deleted until the run ends (see above)."""
    folder = parent / f"{name}-{next(_ROUND)}"
    folder.mkdir(parents=True)
    return folder


_ROUND = itertools.count()


def ours_get(home: Path, server: Orthanc) -> None:
    os.environ["WORKSTATION_HOME"] = str(home)
    from workstation.net import dimse
    from workstation.net.nodes import Settings, parse_node

    assert dimse.retrieve(None, None, parse_node(server.node), CT_STUDY, settings=Settings()) == 283


def ours_wado(home: Path, server: Orthanc) -> None:
    os.environ["WORKSTATION_HOME"] = str(home)
    from workstation.net import web
    from workstation.net.nodes import parse_node

    assert web.retrieve(None, None, parse_node(server.url), CT_STUDY) == 283


def split_wado(out: Path, server: Orthanc, per_object: bool) -> None:
    """Our download and split alone, each part written as it comes, to one file or to a new file of its own;
    nothing checked, read or indexed. A retrieve into one file per object (the library's layout, and every
    PACS client's) does at least the second."""
    import requests

    from workstation.net.web import multipart_parts

    response = requests.get(f"{server.url}/studies/{CT_STUDY}", headers={"Accept": ACCEPT}, stream=True, timeout=30)
    response.raise_for_status()
    count = 0
    with ExitStack() as stack:
        whole = None if per_object else stack.enter_context(open(out / "study.parts", "xb", buffering=0))
        for count, part in enumerate(multipart_parts(response), 1):
            if whole is None:
                with open(out / f"{count}.dcm", "xb", buffering=0) as single:
                    single.write(part)
            else:
                whole.write(part)
    assert count == 283


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class OurListener:
    """``workstation pacs listen`` as a user runs it, in its own process."""

    def __init__(self, home: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "WORKSTATION_HOME": str(home), "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen([sys.executable, "-m", "workstation", "pacs", "listen", "--port",
                                         str(self.port), "--allow", "STORESCU"], env=env,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stderr.readline()  # blocks until it says it listens (or dies)
        if not line.startswith("listening"):
            raise RuntimeError(f"listener did not start: {line}{self.process.stderr.read()}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", choices=["C-GET", "WADO-RS", "receive"], help="one part of the bench")
    args = parser.parse_args()
    for tool in ("Orthanc", "getscu", "storescu", "storescp", "curl"):
        require_tool(tool)
    work = Path(tempfile.mkdtemp(prefix="bench-pacs-"))
    server = Orthanc(work / "orthanc", {"getscu": ("GETSCU", free_port()), "ours": ("WORKSTATION", free_port())})
    try:
        server.start()
        server.load(DATA / "ct", DATA / "mr")
        server.stop()
        server.nodelay = False  # a stock Orthanc: dcmtk's default, Nagle on
        server.start()
        times: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}  # of the retrieves and their peers (Orthanc's own CPU is not in it)
        imports = timed(_import_ours)
        getscu = [require_tool("getscu"), "-aet", "GETSCU", "-aec", AET, "-S", "-k", "QueryRetrieveLevel=STUDY",
                  "-k", f"StudyInstanceUID={CT_STUDY}", "127.0.0.1", str(server.dicom_port)]
        storescu = [require_tool("storescu"), "-aet", "STORESCU", "-aec", "WORKSTATION", "+sd", "127.0.0.1"]
        for _ in range(args.repeats):
            peers = {
                "C-GET ours": lambda out: ours_get(out, server),
                "C-GET getscu": lambda out: run([*getscu, "-od", str(out)], nodelay=False),
                "C-GET getscu TCP_NODELAY=1": lambda out: run([*getscu, "-od", str(out)], True),
                "WADO-RS ours": lambda out: ours_wado(out, server),
                "WADO-RS curl": lambda out: run(["curl", "-sf", "-o", str(out / "study.multipart"),
                                                 "-H", f"Accept: {ACCEPT}", f"{server.url}/studies/{CT_STUDY}"],
                                                False),
                "WADO-RS split to one file": lambda out: split_wado(out, server, per_object=False),
                "WADO-RS split to 283 files": lambda out: split_wado(out, server, per_object=True),
            }
            for name, fn in peers.items():
                if args.only in (None, name.split()[0]):
                    out = fresh(work, name.replace(" ", "-").replace("=", ""))  # made before the timing
                    used = cpu_seconds()
                    times.setdefault(name, []).append(timed(lambda fn=fn, out=out: fn(out)))
                    cpu.setdefault(name, []).append(cpu_seconds() - used)
            for nodelay in (False, True) if args.only in (None, "receive") else ():
                label = " TCP_NODELAY=1" if nodelay else ""
                scp_port = free_port()
                scp = subprocess.Popen([require_tool("storescp"), "-aet", "WORKSTATION", "-od",
                                        str(fresh(work, "storescp")), str(scp_port)],
                                       env={**os.environ, "TCP_NODELAY": "1" if nodelay else "0"})
                try:
                    send = [*storescu, str(scp_port), str(DATA / "ct")]
                    times.setdefault(f"receive storescp{label}", []).append(
                        timed(lambda cmd=send, nd=nodelay: _send_when_ready(cmd, nd)))
                finally:
                    scp.terminate()
                    scp.wait()
                listener = OurListener(fresh(work, "home-listen"))
                try:
                    send = [*storescu, str(listener.port), str(DATA / "ct")]
                    times.setdefault(f"receive ours (storescu{label})", []).append(
                        timed(lambda cmd=send, nd=nodelay: run(cmd, nd)))
                finally:
                    listener.stop()
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"(importing our network modules, before the timings: {imports:.2f} s)")
        print(f"{'':36s} {'seconds':>8s} {'CPU s':>8s}")
        for name, value in med.items():
            used = f"{statistics.median(cpu[name]):8.2f}" if name in cpu else ""
            print(f"{name:36s} {value:8.2f} {used}")
        print()
        if args.only in (None, "C-GET"):
            print(f"C-GET ours / getscu:                      {med['C-GET ours'] / med['C-GET getscu']:.2f}x")
            print(f"C-GET ours / getscu TCP_NODELAY=1:        "
                  f"{med['C-GET ours'] / med['C-GET getscu TCP_NODELAY=1']:.2f}x")
        if args.only in (None, "WADO-RS"):
            for name in ("WADO-RS ours", "WADO-RS split to one file", "WADO-RS split to 283 files"):
                print(f"{name + ' / curl:':42s}{med[name] / med['WADO-RS curl']:.2f}x "
                      f"(CPU {statistics.median(cpu[name]) / statistics.median(cpu['WADO-RS curl']):.2f}x)")
        if args.only in (None, "receive"):
            for label in ("", " TCP_NODELAY=1"):
                print(f"receive ours / storescp{label + ':':16s}  "
                      f"{med[f'receive ours (storescu{label})'] / med[f'receive storescp{label}']:.2f}x")
            _print_listener_memory(work, storescu)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _print_listener_memory(work: Path, storescu: list[str]) -> None:
    listener = OurListener(fresh(work, "home-memory"))
    try:
        idle = peak_rss_mb(listener.process.pid)
        run([*storescu, str(listener.port), str(DATA / "ct")], True)
        after_ct = peak_rss_mb(listener.process.pid)
        run([*storescu, str(listener.port), str(DATA / "mr")], True)
        after_both = peak_rss_mb(listener.process.pid)
    finally:
        listener.stop()
    print(f"listener peak RSS: {idle:.0f} MB idle, {after_ct:.0f} MB after the CT (148 MB), "
          f"{after_both:.0f} MB after CT and MR (280 MB)")


def _import_ours() -> None:
    """Our modules imported before timing: the peers are measured on their transfers, so are we (a
    GUI or a ``pacs listen`` has them loaded long before the first transfer)."""
    from workstation.net import dimse, web  # noqa: F401


def _send_when_ready(cmd: list[str], nodelay: bool, attempts: int = 50) -> None:
    """storescp gives no readiness signal: retry the send while its port is not yet open."""
    for _ in range(attempts):
        try:
            run(cmd, nodelay)
            return
        except RuntimeError as exc:
            if "Connection refused" not in str(exc):
                raise
    raise RuntimeError("storescp never accepted a connection")


if __name__ == "__main__":
    sys.exit(main())
