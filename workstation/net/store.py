"""Land received DICOM objects: one file per SOP Instance UID in the received folder, indexed as it arrives.

Why a folder of our own: the library indexes files in place, and objects
from a PACS have no place until we give them one. Each object is checked
in memory (it must parse, and carry study, series and SOP instance UIDs),
written under a temporary name beside its place, then renamed to
``STUDY/SERIES/SOP.dcm``: a reader never sees a partial file, and an object
that arrives twice replaces itself, so a repeated retrieve adds no
duplicates. A ``Transfer`` marks the series it touches ``receiving`` in the
library until it ends, then ``complete`` or ``incomplete``.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workstation import paths
from workstation.atomic import atomic_output
from workstation.dicom.header import InstanceHeader, header_of_bytes
from workstation.dicom.library import Library
from workstation.errors import Cancelled, DicomError, NetworkError

log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


BATCH_S = 0.1
"""At most this long between an object landing and its row, when a transfer indexes in batches."""


class DiskFull(NetworkError):
    """The received folder's file system is full: the transfer must stop."""


class Transfer:
    """The objects of one association (a retrieve, or what a caller sends to the listener).

    Thread-safe: pynetdicom calls ``add`` from the association's thread while
    the GUI or CLI reads ``received``.
    """

    def __init__(self, library: Library, root: Path | None = None, keep_dir: Path | None = None,
                 batch: int = 1, on_series: Callable[[str, str], None] | None = None) -> None:
        self.library = library
        self.root = root or paths.received_dir()
        self.keep_dir = keep_dir
        self.batch = batch
        """Objects indexed in one transaction (or what landed in ``BATCH_S``, whichever first): 1 for the
        listener, whose callers watch each object appear; more for a retrieve, where a transaction per
        object costs more than writing the object."""
        self.series: dict[str, str] = {}
        """series UID -> study UID of everything that arrived."""
        self.on_series = on_series
        """Called with (study UID, series UID), from the thread that indexed it, when a series has its first
        rows in the library: a GUI shows each series as it arrives, without polling."""
        self._shown: set[str] = set()
        self.received = 0
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._pending: list[InstanceHeader] = []
        self._indexed_at = time.monotonic()
        self._folders: set[Path] = set()
        """Folders made already: asking the file system again for each object costs."""

    def add(self, encoded: bytes | bytearray, sop_instance_uid: str) -> InstanceHeader:
        """Check, write and index one object (``encoded``: the DICOM file, meta included).

        The header is read from ``encoded`` before anything is written: an
        object that does not parse raises ``DicomError`` and leaves no
        file. ``DiskFull`` when the disk is full.
        """
        header = header_of_bytes(encoded, self.root)
        _check(header, sop_instance_uid)
        final = self.root / header.study_uid / header.series_uid / f"{header.sop_instance_uid}.dcm"
        with self._lock:
            if header.series_uid not in self.series:
                self.series[header.series_uid] = header.study_uid
                self.library.set_state([(header.study_uid, header.series_uid)], "receiving")
        self._folder(final.parent)
        try:  # a temporary name beside the final one: the rename stays in one folder
            fd, name = tempfile.mkstemp(prefix=".partial-", suffix=".dcm", dir=final.parent)
        except OSError as exc:
            raise _write_error(exc, final.parent) from exc
        try:
            try:
                _write_all(fd, encoded)
                stat = os.fstat(fd)  # the file's size and time, as the library records them
            finally:
                os.close(fd)
            os.replace(name, final)
        except BaseException as exc:
            Path(name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _write_error(exc, final) from exc
            raise
        # set in place: the header is ours alone, and dataclasses.replace costs a tenth of a millisecond an object
        header.path, header.file_size, header.mtime_ns = str(final), stat.st_size, stat.st_mtime_ns
        if self.keep_dir is not None:
            self._keep(final, header)
        with self._lock:
            self.received += 1
            self._pending.append(header)
            due = len(self._pending) >= self.batch or time.monotonic() - self._indexed_at >= BATCH_S
        if due:
            self.index()
        return header

    def index(self) -> None:
        """Index, in one transaction, the objects landed and not yet indexed."""
        with self._index_lock:
            with self._lock:
                pending, self._pending = self._pending, []
                self._indexed_at = time.monotonic()
            if pending:
                self.library.add_instances(pending)
                new = {h.series_uid: h.study_uid for h in pending if h.series_uid not in self._shown}
                self._shown.update(new)
                if self.on_series is not None:
                    for series_uid, study_uid in new.items():
                        self.on_series(study_uid, series_uid)

    def _folder(self, folder: Path) -> None:
        if folder not in self._folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _write_error(exc, folder) from exc
            self._folders.add(folder)

    def _keep(self, final: Path, header: InstanceHeader) -> None:
        """A copy in the user's ``-o`` folder, by series, written atomically."""
        out = self.keep_dir / header.series_uid / final.name
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(out, "received object") as tmp:
            shutil.copyfile(final, tmp)

    def finish(self, complete: bool, also: dict[str, str] | None = None) -> None:
        """End the transfer: its series (and ``also``, series UID -> study UID) complete or incomplete."""
        self.index()
        series = {**self.series, **(also or {})}
        self.library.set_state([(study, uid) for uid, study in series.items()],
                               "complete" if complete else "incomplete")


@dataclasses.dataclass
class Announced:
    """What the sender said a retrieve holds, to name what is missing when it stops early."""

    expected: int | None = None
    failed: int = 0

    def missing_line(self, received: int, study_uid: str, series_uid: str) -> str:
        what = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        if self.expected is None:
            return f"retrieve of {what} failed: {received} objects received, the rest unknown; marked incomplete"
        return (f"retrieve of {what} incomplete: {received} of {self.expected} objects received, "
                f"{max(self.expected - received, 0)} missing; marked incomplete, retrieve again to complete it")


@contextmanager
def retrieving(library: Library | None, keep_dir: Path | None, study_uid: str, series_uid: str = "",
               batch: int = 1, on_series: Callable[[str, str], None] | None = None,
               ) -> Iterator[tuple[Transfer, Announced]]:
    """The frame of one retrieve (C-GET, C-MOVE or WADO-RS): its transfer ends complete, or incomplete with
    a ``NetworkError`` line naming what is missing; a library opened here is closed."""
    own = library is None
    library = library or Library()
    transfer = Transfer(library, keep_dir=keep_dir, batch=batch, on_series=on_series)
    announced = Announced()
    try:
        yield transfer, announced
    except BaseException as exc:
        transfer.finish(False, {series_uid: study_uid} if series_uid else None)
        if isinstance(exc, NetworkError) and not isinstance(exc, DiskFull | Cancelled):
            raise NetworkError(f"{announced.missing_line(transfer.received, study_uid, series_uid)} ({exc})") \
                from exc
        raise
    else:
        transfer.finish(True)
    finally:
        if own:
            library.close()


def _check(header: InstanceHeader, sop_instance_uid: str) -> None:
    for what, uid in (("study", header.study_uid), ("series", header.series_uid),
                      ("SOP instance", header.sop_instance_uid)):
        if not _UID.match(uid or "") or len(uid) > 64:
            raise DicomError(f"received object without a valid {what} UID", header.path)
    if sop_instance_uid and header.sop_instance_uid != sop_instance_uid:
        raise DicomError("received object's SOP Instance UID differs from the one announced", header.path)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    """One ``write`` for the whole object (a regular file takes it all unless the disk fills)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_error(exc: OSError, path: Path) -> NetworkError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull("disk full while receiving", path)
    return NetworkError(f"cannot write a received object ({exc.strerror or exc})", path)
