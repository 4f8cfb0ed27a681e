"""Scan a folder (a CD copy, a PACS export, a research dump) for DICOM headers.

Two steps, so the library can compare file sizes and times before reading
anything: ``list_files`` walks the tree (following folder links, never in a
loop), merges what DICOMDIRs list, and sets aside hidden files; then
``iter_headers`` reads headers, in worker processes for large folders because
parsing is pure Python and one core is not enough. ``scan_folder`` does both
and is the "open a folder without importing it" job.

Non-DICOM files are not errors: they are skipped with a reason and counted.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from workstation.dicom import dicomdir
from workstation.dicom.header import InstanceHeader, read_header
from workstation.errors import DicomError, Skipped
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress

log = logging.getLogger(__name__)

PARALLEL_MIN_FILES = 1000
"""Below this many files a worker pool costs more to start than it saves (measured: tests/bench/bench_scan.py)."""
WORKERS = 2
CHUNK = 32
"""Files per task: small enough to cancel within a second even on slow pydicom fallbacks, large enough to amortise."""

@dataclass
class FileEntry:
    path: str
    size: int
    mtime_ns: int


@dataclass
class FileList:
    """What a walk found: candidate files, files set aside, and the DICOMDIRs seen."""

    files: list[FileEntry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    folder: str
    headers: list[InstanceHeader] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)
    files_seen: int = 0

    @property
    def files_read(self) -> int:
        return len(self.headers)

    def skipped_reasons(self) -> Counter[str]:
        return skip_reasons(self.skipped)


def skip_reasons(skipped: Sequence[Skipped]) -> Counter[str]:
    """How many files were skipped for each kind of reason (the reason without its details in brackets)."""
    return Counter(reason.split(" (", 1)[0] for _, reason in skipped)


def list_files(progress: Progress, cancel: CancelFlag | None, folder: str | os.PathLike[str]) -> FileList:
    """Every file under ``folder`` (or ``folder`` itself when it is a file or a DICOMDIR), each once, sorted.

    ``progress`` hears how many files were found so far (fraction 0: the total is not known yet).
    """
    root = Path(folder)
    if not root.exists():
        raise DicomError("no such file or folder", root)
    result = FileList()
    seen_files: set[tuple[int, int]] = set()
    if root.is_dir():
        _walk(root, result, seen_files, cancel, progress)
    elif dicomdir.is_dicomdir_name(root.name):
        result.dicomdirs.append(str(root))
    else:
        _add_file(str(root), result, seen_files)
    for index_file in result.dicomdirs:
        try:
            listed, missing = dicomdir.referenced_files(index_file)
        except DicomError as exc:
            result.skipped.append(Skipped(index_file, exc.reason))
            continue
        for path in listed:
            _add_file(path, result, seen_files)
        result.skipped.extend(Skipped(path, "listed in a DICOMDIR but missing") for path in missing)
    result.files.sort(key=lambda entry: entry.path)
    return result


def _walk(root: Path, result: FileList, seen_files: set[tuple[int, int]], cancel: CancelFlag | None,
          progress: Progress) -> None:
    stat = root.stat()
    seen_dirs = {(stat.st_dev, stat.st_ino)}
    stack = [str(root)]
    reported = 0
    while stack:
        check_cancel(cancel)
        if len(result.files) >= reported + 1000:
            reported = len(result.files)
            progress(0.0, f"listing files ({reported} found)")
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            result.skipped.append(Skipped(folder, f"folder not readable ({exc.strerror or exc})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                result.skipped.append(Skipped(entry.path, "hidden file or folder"))
                continue
            try:
                if entry.is_dir():  # follows links; the (device, inode) set stops loops
                    info = entry.stat()
                    key = (info.st_dev, info.st_ino)
                    if key not in seen_dirs:
                        seen_dirs.add(key)
                        stack.append(entry.path)
                    continue
            except OSError:
                pass
            if dicomdir.is_dicomdir_name(entry.name):
                result.dicomdirs.append(entry.path)
            else:
                _add_file(entry.path, result, seen_files)


def _add_file(path: str, result: FileList, seen_files: set[tuple[int, int]]) -> None:
    try:
        info = os.stat(path)
    except OSError as exc:
        result.skipped.append(Skipped(path, f"not readable ({exc.strerror or exc})"))
        return
    key = (info.st_dev, info.st_ino)
    if key in seen_files:  # the same file reached twice (a link, or a walk and a DICOMDIR)
        return
    seen_files.add(key)
    result.files.append(FileEntry(path, info.st_size, info.st_mtime_ns))


def read_chunk(paths: Sequence[str]) -> list[InstanceHeader | Skipped]:
    """Headers of ``paths`` in order; a ``Skipped`` for each file that has none. Runs in workers."""
    out: list[InstanceHeader | Skipped] = []
    for path in paths:
        try:
            header = read_header(path)
            if header.sop_instance_uid or header.series_uid or header.study_uid:
                out.append(header)
            else:  # e.g. a DICOMDIR under another name: nothing a library could file
                out.append(Skipped(path, "no SOP instance, study or series UID (not an image or stored object)"))
        except DicomError as exc:
            out.append(Skipped(path, exc.reason))
        except Exception as exc:  # noqa: BLE001 - a parser bug must cost one file, not the scan
            out.append(Skipped(path, f"unexpected error reading the header ({type(exc).__name__})"))
    return out


def iter_headers(paths: Sequence[str], cancel: CancelFlag | None = None,
                 workers: int | None = None) -> Iterator[list[InstanceHeader | Skipped]]:
    """Read headers chunk by chunk, yielding each chunk's results as soon as it is done (in any order).

    ``workers=None`` picks a pool of ``WORKERS`` processes for ``PARALLEL_MIN_FILES``
    files or more, else reads in this process; ``workers=0`` forces the latter.
    Cancelling raises ``Cancelled`` within about two chunks' time; the workers end with the pool.
    """
    if workers is None:
        workers = min(WORKERS, os.cpu_count() or 1) if len(paths) >= PARALLEL_MIN_FILES else 0
    chunks = [list(paths[i:i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    yield from (_pooled(chunks, cancel, workers) if workers > 1 else _in_process(chunks, cancel))


def _pooled(chunks: list[list[str]], cancel: CancelFlag | None,
            workers: int) -> Iterator[list[InstanceHeader | Skipped]]:
    """Chunks read by worker processes, at most two per worker in flight so a cancel stops them soon.

    If the pool breaks (a worker cannot start, e.g. a script without a
    ``__main__`` guard, or it dies), the remaining chunks are read here.
    """
    # forkserver, not fork: the GUI scans from a worker thread, and forking a threaded process can deadlock
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["workstation.dicom.scan"])
    executor = ProcessPoolExecutor(workers, mp_context=context)
    todo = list(reversed(chunks))
    pending: dict[Future, list[str]] = {}
    try:
        while todo or pending:
            while todo and len(pending) < 2 * workers:
                chunk = todo.pop()
                pending[executor.submit(read_chunk, chunk)] = chunk
            check_cancel(cancel)
            done, _ = wait(pending, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in done:
                check_cancel(cancel)  # several chunks may end together: none is reported after the cancel
                chunk = pending.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    log.warning("header worker processes failed; reading the rest in this process")
                    todo.extend(pending.values())
                    todo.append(chunk)
                    pending.clear()
                    yield from _in_process(list(reversed(todo)), cancel)
                    return
                yield results
    finally:
        # Queued chunks are dropped and the (at most two per worker) chunks in
        # flight are let finish: a few tens of ms. Killing the workers instead
        # can leave a half-written result in the pipe, on which the pool's
        # manager thread then blocks for ever, and so does this shutdown.
        executor.shutdown(wait=True, cancel_futures=True)


def _in_process(chunks: list[list[str]], cancel: CancelFlag | None) -> Iterator[list[InstanceHeader | Skipped]]:
    for chunk in chunks:
        results: list[InstanceHeader | Skipped] = []
        for path in chunk:
            check_cancel(cancel)
            results.extend(read_chunk([path]))
        yield results


def read_headers(progress: Progress, cancel: CancelFlag | None, paths: Sequence[str],
                 workers: int | None = None) -> tuple[list[InstanceHeader], list[Skipped]]:
    """All headers of ``paths`` (sorted by path) and the files skipped with their reasons."""
    headers: list[InstanceHeader] = []
    skipped: list[Skipped] = []
    done = 0
    for results in iter_headers(paths, cancel, workers):
        for item in results:
            (headers if isinstance(item, InstanceHeader) else skipped).append(item)
        done += len(results)
        progress(done / max(len(paths), 1), f"reading headers ({done} of {len(paths)})")
    headers.sort(key=lambda h: h.path)
    skipped.sort()
    return headers, skipped


def scan_folder(progress: Progress, cancel: CancelFlag | None, folder: str | os.PathLike[str],
                workers: int | None = None) -> ScanResult:
    """Job: the headers of every DICOM file under ``folder``, without touching the library."""
    progress = progress or no_progress
    progress(0.0, "listing files")
    listing = list_files(progress, cancel, folder)
    headers, skipped = read_headers(progress, cancel, [entry.path for entry in listing.files], workers)
    result = ScanResult(str(folder), headers, sorted(listing.skipped + skipped), listing.dicomdirs,
                        files_seen=len(listing.files) + len(listing.skipped))
    log.info("scanned %d files: %d headers, %d skipped", result.files_seen, len(headers), len(result.skipped))
    progress(1.0, f"{len(headers)} DICOM files, {len(result.skipped)} skipped")
    return result
