"""The files a DICOMDIR lists, found on disk even when a CD copy changed their names.

A DICOMDIR names its files by ISO 9660 IDs relative to its own folder
("PT000000\\ST000000\\IM000001"). Copies of CDs often come back lower case,
with ";1" version suffixes or a trailing dot, so names are matched without
case and without those decorations.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from workstation.errors import DicomError

DICOMDIR_NAME = "DICOMDIR"


def is_dicomdir_name(name: str) -> bool:
    return _normal(name) == DICOMDIR_NAME


def referenced_files(dicomdir: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """(paths that exist, file IDs that are missing) of every record's Referenced File ID."""
    import pydicom  # records are nested sequences: pydicom's job, and only needed when a DICOMDIR is there

    path = Path(dicomdir)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
        records = list(ds.get("DirectoryRecordSequence") or [])
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, NotImplementedError) as exc:
        raise DicomError(f"unreadable DICOMDIR ({type(exc).__name__})", path) from exc
    if not records:
        raise DicomError("DICOMDIR without directory records", path)
    resolver = _Resolver(path.parent)
    found: list[str] = []
    missing: list[str] = []
    for record in records:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        resolved = resolver.resolve(parts)
        if resolved is None:
            missing.append(str(path.parent.joinpath(*parts)))
        else:
            found.append(resolved)
    return list(dict.fromkeys(found)), missing


def _normal(name: str) -> str:
    """An ISO 9660 name without case, version suffix and trailing dot."""
    name = name.upper()
    if ";" in name:
        name = name.split(";", 1)[0]
    return name.rstrip(".")


class _Resolver:
    """Finds files component by component, listing each folder once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.listings: dict[str, dict[str, str]] = {}

    def _listing(self, folder: str) -> dict[str, str]:
        if folder not in self.listings:
            try:
                names = os.listdir(folder)
            except OSError:
                names = []
            self.listings[folder] = {_normal(n): n for n in sorted(names, reverse=True)}
        return self.listings[folder]

    def resolve(self, parts: list[str]) -> str | None:
        exact = self.root.joinpath(*parts)
        if exact.is_file():
            return str(exact)
        current = str(self.root)
        for part in parts:
            actual = self._listing(current).get(_normal(part))
            if actual is None:
                return None
            current = os.path.join(current, actual)
        return current if os.path.isfile(current) else None
