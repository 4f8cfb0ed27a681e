"""Land received DICOM objects: one file per SOP Instance UID in the received folder, indexed as it arrives.

Why a folder of our own: the library indexes files in place, and objects
from a PACS have no place until we give them one. Each object is written
under a temporary name in that folder, checked (it must parse, and carry
study, series and SOP instance UIDs), then renamed to
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workstation import paths
from workstation.atomic import atomic_output
from workstation.dicom.header import InstanceHeader, read_header
from workstation.dicom.library import Library
from workstation.errors import Cancelled, DicomError, NetworkError

log = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


class DiskFull(NetworkError):
    """The received folder's file system is full: the transfer must stop."""


class Transfer:
    """The objects of one association (a retrieve, or what a caller sends to the listener).

    Thread-safe: pynetdicom calls ``add`` from the association's thread while
    the GUI or CLI reads ``received``.
    """

    def __init__(self, library: Library, root: Path | None = None, keep_dir: Path | None = None) -> None:
        self.library = library
        self.root = root or paths.received_dir()
        self.keep_dir = keep_dir
        self.series: dict[str, str] = {}
        """series UID -> study UID of everything that arrived."""
        self.received = 0
        self._lock = threading.Lock()
        self._incoming = self.root / ".incoming"
        self._folders: set[Path] = set()
        """Folders made already: asking the file system again for each object costs."""

    def add(self, encoded: bytes | bytearray, sop_instance_uid: str) -> InstanceHeader:
        """Write, check and index one object (``encoded``: the DICOM file, meta included).

        Raises ``DicomError`` for an object that does not parse (nothing is
        kept) and ``DiskFull`` when the disk is full.
        """
        self._folder(self._incoming)
        try:
            fd, name = tempfile.mkstemp(prefix=".partial-", suffix=".dcm", dir=self._incoming)
        except OSError as exc:
            raise _write_error(exc, self._incoming) from exc
        tmp = Path(name)
        try:
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(encoded)
            except OSError as exc:
                raise _write_error(exc, tmp) from exc
            header = read_header(tmp)
            _check(header, sop_instance_uid)
            final = self.root / header.study_uid / header.series_uid / f"{header.sop_instance_uid}.dcm"
            with self._lock:
                if header.series_uid not in self.series:
                    self.series[header.series_uid] = header.study_uid
                    self.library.set_state([(header.study_uid, header.series_uid)], "receiving")
            self._folder(final.parent)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        header = dataclasses.replace(header, path=str(final))
        self.library.add_instances([header])
        if self.keep_dir is not None:
            self._keep(final, header)
        with self._lock:
            self.received += 1
        return header

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
def retrieving(library: Library | None, keep_dir: Path | None, study_uid: str,
               series_uid: str = "") -> Iterator[tuple[Transfer, Announced]]:
    """The frame of one retrieve (C-GET, C-MOVE or WADO-RS): its transfer ends complete, or incomplete with
    a ``NetworkError`` line naming what is missing; a library opened here is closed."""
    own = library is None
    library = library or Library()
    transfer = Transfer(library, keep_dir=keep_dir)
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


def _write_error(exc: OSError, path: Path) -> NetworkError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull("disk full while receiving", path)
    return NetworkError(f"cannot write a received object ({exc.strerror or exc})", path)
