"""Errors a user can act on.

Every failure that reaches a user is a ``WorkstationError`` whose message is a
single line naming the file (when there is one) and the reason. Tracebacks go
to the log only. Messages never carry patient identifiers: name the file, the
tag and the problem, not the header values of identifying tags.
"""

from __future__ import annotations

from os import PathLike
from typing import NamedTuple


class WorkstationError(Exception):
    """Base of all errors shown to a user; ``str()`` is the one-line message."""

    def __init__(self, reason: str, path: str | PathLike[str] | None = None) -> None:
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {self.reason}" if self.path else self.reason)


class Skipped(NamedTuple):
    """A file left out of a scan, a volume or an export, and why; ``str()`` is the "path: reason" line users see.

    One type for every list of files left out, so consumers read ``path``
    and ``reason`` instead of parsing display lines back. A tuple, so lists
    of them sort by path and cross to the scan's worker processes.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason

    @classmethod
    def of(cls, error: WorkstationError) -> Skipped:
        """The entry for an error that cost one file (its text unchanged)."""
        return cls(error.path or "", error.reason)


class Cancelled(WorkstationError):
    """The user cancelled the job; nothing was left half done."""

    def __init__(self, reason: str = "cancelled", path: str | PathLike[str] | None = None) -> None:
        super().__init__(reason, path)


class DicomError(WorkstationError):
    """A DICOM file or series cannot be read, decoded or assembled."""


class GeometryError(WorkstationError):
    """Positions, orientations or spacings contradict each other or are degenerate."""


class LibraryError(WorkstationError):
    """The study library database cannot be opened or written."""


class RegistrationError(WorkstationError):
    """A registration cannot be set up or did not produce a usable transform."""


class NetworkError(WorkstationError):
    """A PACS or DICOMweb node cannot be reached, refuses us, or a transfer did not complete."""


class ExportError(WorkstationError):
    """A file cannot be written."""


def last_line(exc: BaseException) -> str:
    """The last line of an exception's text, for a one-line message.

    SimpleITK's errors run over several lines (the C++ file and line first,
    what went wrong last); only the last one means something to a user.
    """
    lines = str(exc).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__
