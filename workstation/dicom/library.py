"""The study library: a SQLite file of patients, studies, series and instances.

Why a database: the browser lists thousands of studies instantly, and a
re-scan of a folder must read only files that are new or changed (same path,
size and modification time means unchanged). Each instance row keeps the
whole ``InstanceHeader`` as JSON, so a series can be assembled without
opening its files again; the indexed columns serve the browser's queries.

Safety: every batch of files is one transaction, so an import that is
cancelled or killed leaves complete rows only (a re-scan finishes the job).
Source files are only ever opened read-only, by the header reader. A library
file that SQLite reports as damaged, or that has another schema version, is
moved aside and rebuilt; the folders it knew are kept so they can be
imported again. The GUI calls in from worker threads: each thread gets its
own connection (WAL lets readers run during an import), and imports are
serialised by a lock.

Transfers: objects arriving from a PACS are added one file at a time as they
land (each row whole), while their series is marked ``receiving``; at the end
of the transfer it becomes ``complete``, or ``incomplete`` when objects the
sender announced never came. Only series that are not complete have a row in
``transfer_state``, so every folder import is complete by construction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation import paths
from workstation.dicom import dicomdir
from workstation.dicom.header import InstanceHeader, header_from_json, header_to_json
from workstation.dicom.label_objects import read_summary
from workstation.dicom.scan import iter_headers, list_files
from workstation.errors import LibraryError, Skipped
from workstation.jobs import CancelFlag, Progress, no_progress

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""Raise this when the tables change; a library of another version is migrated (``_MIGRATIONS``) or rebuilt."""

SERIES_STATES = ("complete", "receiving", "incomplete")
"""A series' transfer state; a study takes the first of receiving, incomplete, complete its series have."""

_TRANSFER_TABLE = """
CREATE TABLE transfer_state (
    series_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('receiving', 'incomplete')))
"""

_MIGRATIONS = {1: _TRANSFER_TABLE}
"""version -> SQL that brings a library of that version to the next: kept libraries keep their rows."""

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # sqlite3 result codes that mean "this file is damaged"

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE folders (path TEXT PRIMARY KEY, imported_ns INTEGER);
CREATE TABLE patients (
    id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL, patient_name TEXT NOT NULL,
    birth_date TEXT NOT NULL, sex TEXT NOT NULL, UNIQUE (patient_id, patient_name));
CREATE TABLE studies (
    id INTEGER PRIMARY KEY, study_uid TEXT NOT NULL UNIQUE, patient INTEGER NOT NULL REFERENCES patients (id),
    study_date TEXT NOT NULL, study_time TEXT NOT NULL, description TEXT NOT NULL, accession_number TEXT NOT NULL);
CREATE TABLE series (
    id INTEGER PRIMARY KEY, series_uid TEXT NOT NULL UNIQUE, study INTEGER NOT NULL REFERENCES studies (id),
    modality TEXT NOT NULL, series_number INTEGER, description TEXT NOT NULL, frame_of_reference_uid TEXT NOT NULL);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, series INTEGER NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT NOT NULL, instance_number INTEGER, file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    header TEXT NOT NULL);
CREATE TABLE skipped_files (
    path TEXT PRIMARY KEY, file_size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE INDEX instances_series ON instances (series);
CREATE INDEX series_study ON series (study);
CREATE INDEX studies_patient ON studies (patient);
CREATE INDEX studies_date ON studies (study_date);
CREATE INDEX series_modality ON series (modality);
""" + _TRANSFER_TABLE


@dataclass
class SeriesRow:
    series_uid: str
    modality: str
    series_number: int | None
    description: str
    frame_of_reference_uid: str
    instances: int
    state: str = "complete"
    segmentations: list[SeriesRow] = field(default_factory=list)
    """SEG and RTSTRUCT series drawn on this one (filed under it, opened with it)."""


@dataclass
class StudyRow:
    study_uid: str
    study_date: str
    study_time: str
    description: str
    accession_number: str
    series: list[SeriesRow] = field(default_factory=list)

    @property
    def state(self) -> str:
        """receiving while any series is, else incomplete while any series is, else complete."""
        states = {s.state for s in self.series}
        return next((state for state in ("receiving", "incomplete") if state in states), "complete")


@dataclass
class PatientRow:
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    studies: list[StudyRow] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import did: counts of files by outcome, and the files that gave no header."""

    folder: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    files_read: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    dicomdirs: list[str] = field(default_factory=list)
    series_uids: list[str] = field(default_factory=list)


class Library:
    """The study library in one SQLite file (``paths.library_path()`` unless told otherwise)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else paths.library_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rebuilt: str | None = None
        """Why the library was rebuilt on opening (damaged file or old schema), or None."""
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()  # guards _connections
        self._write_lock = threading.Lock()
        self._open_checked()

    # -- connections and schema -------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses nothing committed
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def close(self) -> None:
        """Close every thread's connection; the library must not be used afterwards."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_checked(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._create([])
            return
        problem, version, folders = self._inspect()
        while problem is None and version in _MIGRATIONS:
            version = self._migrate(version)
        if problem is None and version == SCHEMA_VERSION:
            return
        self.close()
        reason = problem or f"schema version {version}, this program uses {SCHEMA_VERSION}"
        aside = self._move_aside("corrupt" if problem else f"v{version}")
        self.rebuilt = f"library rebuilt ({reason}); the old file is {aside.name}"
        log.warning("%s: %s", self.path, self.rebuilt)
        self._create(folders)

    def _inspect(self) -> tuple[str | None, int | None, list[str]]:
        """(damage found or None, schema version, folders it knew) of the existing file."""
        try:
            conn = self._conn
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                return f"damaged database ({check})", None, []
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = conn.execute("SELECT version FROM schema_version").fetchone()[0] if "schema_version" in tables \
                else 0
            folders = [r[0] for r in conn.execute("SELECT path FROM folders")] if "folders" in tables else []
            return None, version, folders
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                # locked by another program, disk full, no permission: not damage, so never move it aside
                raise LibraryError(f"cannot open the library ({exc})", self.path) from exc
            return f"damaged database ({exc})", None, []

    def _migrate(self, version: int) -> int:
        """Bring the file from ``version`` to the next one in place; returns the new version."""
        with _library_errors(self.path), _transaction(self._conn) as conn:
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (version + 1,))
        log.info("%s: library migrated from schema version %d to %d", self.path, version, version + 1)
        return version + 1

    def _move_aside(self, label: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.{label}-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                os.replace(source, f"{aside}{suffix}")
        return aside

    def _create(self, folders: list[str]) -> None:
        conn = self._conn
        with _transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            conn.executemany("INSERT INTO folders (path, imported_ns) VALUES (?, NULL)", [(f,) for f in folders])

    # -- import -----------------------------------------------------------------------------------------------------

    def import_folder(self, progress: Progress, cancel: CancelFlag | None, folder: str | os.PathLike[str],
                      workers: int | None = None) -> ImportResult:
        """Job: bring the library up to date with ``folder`` (a folder, a DICOMDIR or one file).

        Unchanged files (same size and modification time) are not read again;
        rows of files that disappeared are removed. Cancelling keeps the
        batches already committed, all complete.
        """
        progress = progress or no_progress
        root = os.path.abspath(folder)
        progress(0.0, "listing files")
        listing = list_files(progress, cancel, root)
        result = ImportResult(root, dicomdirs=listing.dicomdirs)
        scope = _Scope(root)
        with self._write_lock, _library_errors(self.path):
            known = self._known_files(scope)
            listed = {entry.path for entry in listing.files}
            unreadable = [path for path, reason in listing.skipped if reason.startswith("folder not readable")]
            gone = [path for path in known if path not in listed and not _under_any(path, unreadable)]
            self._remove(gone)
            result.removed = sum(1 for path in gone if known[path][2] is None)
            to_read: list[str] = []
            for entry in listing.files:
                before = known.get(entry.path)
                if before is not None and before[:2] == (entry.size, entry.mtime_ns):
                    result.unchanged += 1
                    if before[2] is not None:  # a non-DICOM file seen before: still skipped, not read again
                        result.skipped.append(Skipped(entry.path, before[2]))
                    continue
                to_read.append(entry.path)
                if before is None:
                    result.new += 1
                else:
                    result.changed += 1
            result.skipped.extend(listing.skipped)
            self._read_into_library(progress, cancel, to_read, result, workers)
            with _transaction(self._conn) as conn:
                conn.execute("INSERT OR REPLACE INTO folders (path, imported_ns) VALUES (?, ?)", (root, time.time_ns()))
            result.series_uids = self._series_in(scope)
        result.skipped.sort()
        progress(1.0, f"{result.files_read} files read, {len(result.skipped)} skipped")
        log.info("imported a folder: %d new, %d changed, %d unchanged, %d removed, %d skipped",
                 result.new, result.changed, result.unchanged, result.removed, len(result.skipped))
        return result

    def add_instances(self, headers: Sequence[InstanceHeader]) -> None:
        """Index files already read (a transfer's objects as they land), all in one transaction."""
        with self._write_lock, _library_errors(self.path), _transaction(self._conn) as conn:
            self._store(conn, list(headers), [])

    def set_state(self, series: Iterable[tuple[str, str]], state: str) -> None:
        """Mark each ``(study_uid, series_uid)`` complete, receiving or incomplete (see ``SERIES_STATES``)."""
        if state not in SERIES_STATES:
            raise ValueError(f"unknown series state {state!r}")
        with self._write_lock, _library_errors(self.path), _transaction(self._conn) as conn:
            for study_uid, series_uid in series:
                if state == "complete":
                    conn.execute("DELETE FROM transfer_state WHERE series_uid = ?", (series_uid,))
                else:
                    conn.execute("INSERT OR REPLACE INTO transfer_state (series_uid, study_uid, state)"
                                 " VALUES (?, ?, ?)", (series_uid, study_uid, state))

    def instances(self, study_uid: str, series_uid: str = "") -> list[tuple[str, str, str]]:
        """``(series_uid, sop_instance_uid, path)`` of a study's (or one series') files, by series and number."""
        where, args = "st.study_uid = ?", [study_uid]
        if series_uid:
            where, args = where + " AND se.series_uid = ?", [*args, series_uid]
        return [tuple(row) for row in self._query(
            "SELECT se.series_uid, i.sop_instance_uid, i.path FROM instances i JOIN series se ON i.series = se.id"
            f" JOIN studies st ON se.study = st.id WHERE {where} ORDER BY se.series_uid, i.instance_number, i.path",
            args)]

    def _known_files(self, scope: _Scope) -> dict[str, tuple[int, int, str | None]]:
        """path -> (size, mtime_ns, skip reason or None) of every file under ``scope`` the library knows."""
        known: dict[str, tuple[int, int, str | None]] = {}
        for table, reason in (("instances", "NULL"), ("skipped_files", "reason")):
            rows = self._conn.execute(f"SELECT path, file_size, mtime_ns, {reason} FROM {table} WHERE {scope.where}",
                                      scope.args)
            known.update((path, (size, mtime, why)) for path, size, mtime, why in rows)
        return known

    def _read_into_library(self, progress: Progress, cancel: CancelFlag | None, to_read: list[str],
                           result: ImportResult, workers: int | None) -> None:
        done = 0
        for results in iter_headers(to_read, cancel, workers):
            headers = [item for item in results if isinstance(item, InstanceHeader)]
            skipped = [item for item in results if not isinstance(item, InstanceHeader)]
            with _transaction(self._conn) as conn:
                self._store(conn, headers, skipped)
            result.files_read += len(headers)
            result.skipped.extend(skipped)
            done += len(results)
            progress(done / max(len(to_read), 1), f"reading headers ({done} of {len(to_read)})")

    def _store(self, conn: sqlite3.Connection, headers: list[InstanceHeader], skipped: list[Skipped]) -> None:
        """One batch: instance rows (with their patient, study and series) and remembered non-DICOM files."""
        paths_in_batch = [h.path for h in headers] + [path for path, _ in skipped]
        touched = self._delete_paths(conn, paths_in_batch)
        for header in headers:
            series = self._series_id(conn, header)
            conn.execute(
                "INSERT INTO instances (path, series, sop_instance_uid, instance_number, file_size, mtime_ns, header)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (header.path, series, header.sop_instance_uid, header.instance_number, header.file_size,
                 header.mtime_ns, header_to_json(header)))
        for path, reason in skipped:
            try:
                info = os.stat(path)
            except OSError:
                continue  # gone since the listing: nothing to remember
            conn.execute("INSERT INTO skipped_files (path, file_size, mtime_ns, reason) VALUES (?, ?, ?, ?)",
                         (path, info.st_size, info.st_mtime_ns, reason))
        _prune(conn, touched)

    def _series_id(self, conn: sqlite3.Connection, h: InstanceHeader) -> int:
        conn.execute("INSERT OR IGNORE INTO patients (patient_id, patient_name, birth_date, sex) VALUES (?, ?, ?, ?)",
                     (h.patient_id, h.patient_name, h.patient_birth_date, h.patient_sex))
        patient = conn.execute("SELECT id FROM patients WHERE patient_id = ? AND patient_name = ?",
                               (h.patient_id, h.patient_name)).fetchone()[0]
        conn.execute("INSERT OR IGNORE INTO studies (study_uid, patient, study_date, study_time, description,"
                     " accession_number) VALUES (?, ?, ?, ?, ?, ?)",
                     (h.study_uid, patient, h.study_date, h.study_time, h.study_description, h.accession_number))
        study = conn.execute("SELECT id FROM studies WHERE study_uid = ?", (h.study_uid,)).fetchone()[0]
        conn.execute("INSERT OR IGNORE INTO series (series_uid, study, modality, series_number, description,"
                     " frame_of_reference_uid) VALUES (?, ?, ?, ?, ?, ?)",
                     (h.series_uid, study, h.modality, h.series_number, h.series_description,
                      h.frame_of_reference_uid))
        return conn.execute("SELECT id FROM series WHERE series_uid = ?", (h.series_uid,)).fetchone()[0]

    def _remove(self, gone: list[str]) -> None:
        """Forget files that are no longer there, in one transaction."""
        if gone:
            with _transaction(self._conn) as conn:
                _prune(conn, self._delete_paths(conn, gone))

    @staticmethod
    def _delete_paths(conn: sqlite3.Connection, file_paths: Sequence[str]) -> set[int]:
        """Delete the rows of ``file_paths``; returns the series ids that lost instances."""
        touched: set[int] = set()
        for path in file_paths:
            row = conn.execute("DELETE FROM instances WHERE path = ? RETURNING series", (path,)).fetchone()
            if row is not None:
                touched.add(row[0])
            conn.execute("DELETE FROM skipped_files WHERE path = ?", (path,))
        return touched

    # -- queries ----------------------------------------------------------------------------------------------------

    def tree(self, search: str = "", modality: str = "", date_from: str = "", date_to: str = "",
             folder: str | os.PathLike[str] | None = None) -> list[PatientRow]:
        """Patients, their studies and their series, for the browser.

        ``search`` matches patient name or ID and study or series description
        (case-insensitive, part of the text); ``modality`` a series' modality;
        ``date_from``/``date_to`` (YYYYMMDD, inclusive) the study date;
        ``folder`` keeps series with files under that folder.
        """
        where, args = ["1"], []
        if search:
            like = f"%{_escape_like(search)}%"
            where.append("(p.patient_name LIKE ? ESCAPE '\\' OR p.patient_id LIKE ? ESCAPE '\\'"
                         " OR st.description LIKE ? ESCAPE '\\' OR se.description LIKE ? ESCAPE '\\')")
            args += [like] * 4
        if modality:
            where.append("se.modality = ?")
            args.append(modality)
        if date_from:
            where.append("st.study_date >= ?")
            args.append(date_from)
        if date_to:
            where.append("st.study_date <= ?")
            args.append(date_to)
        scope = _Scope(os.path.abspath(folder), "i.path") if folder is not None else _Scope.everywhere("i.path")
        where.append(f"se.id IN (SELECT i.series FROM instances i WHERE {scope.where})")
        rows = self._query(
            "SELECT p.id, p.patient_id, p.patient_name, p.birth_date, p.sex, st.id, st.study_uid, st.study_date,"
            " st.study_time, st.description, st.accession_number, se.series_uid, se.modality, se.series_number,"
            " se.description, se.frame_of_reference_uid,"
            f" (SELECT COUNT(*) FROM instances i WHERE i.series = se.id AND {scope.where}),"
            " COALESCE(ts.state, 'complete')"
            " FROM series se JOIN studies st ON se.study = st.id JOIN patients p ON st.patient = p.id"
            " LEFT JOIN transfer_state ts ON ts.series_uid = se.series_uid"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY p.patient_name, p.patient_id, st.study_date, st.study_time, st.study_uid,"
            " se.series_number, se.series_uid", scope.args + args + scope.args)
        patients: dict[int, PatientRow] = {}
        studies: dict[int, StudyRow] = {}
        for (pid, patient_id, name, birth, sex, sid, study_uid, date, study_time, study_desc, accession,
             series_uid, mod, number, series_desc, frame, count, state) in rows:
            if pid not in patients:
                patients[pid] = PatientRow(patient_id, name, birth, sex)
            if sid not in studies:
                studies[sid] = StudyRow(study_uid, date, study_time, study_desc, accession)
                patients[pid].studies.append(studies[sid])
            studies[sid].series.append(SeriesRow(series_uid, mod, number, series_desc, frame, count, state))
        references = self._label_object_references()
        for study in studies.values():
            _file_segmentations(study, references)
        return list(patients.values())

    def _label_object_references(self) -> dict[str, list[str]]:
        """SEG/RTSTRUCT series UID -> the series its objects were drawn on (from the stored headers)."""
        rows = self._query(
            "SELECT se.series_uid, i.header FROM instances i JOIN series se ON i.series = se.id"
            " WHERE se.modality IN ('SEG', 'RTSTRUCT')")
        out: dict[str, list[str]] = {}
        for series_uid, text in rows:
            uids = header_from_json(text).extra.get("referenced_series_uids") or []
            out.setdefault(series_uid, [])
            out[series_uid] += [u for u in uids if u not in out[series_uid]]
        return out

    def segmentations_of(self, series_uid: str) -> list[str]:
        """Paths of the SEG and RTSTRUCT files drawn on a series, to open with it."""
        return [row["path"] for row in self.label_objects() if series_uid in row["references"]]

    def label_objects(self) -> list[dict[str, Any]]:
        """The SEG and RTSTRUCT files, by path, for the browser: path, modality, references (series UIDs),
        label, segments (count), tool, date (YYYYMMDD), and the patient and study they belong to (a file whose
        images are not in the library is listed on its own)."""
        rows = self._query(
            "SELECT i.path, se.modality, i.header FROM instances i JOIN series se ON i.series = se.id"
            " WHERE se.modality IN ('SEG', 'RTSTRUCT') ORDER BY i.path")
        out = []
        for path, modality, text in rows:
            h = header_from_json(text)
            extra = h.extra if "label" in h.extra else read_summary(path)  # stored before the library kept it
            out.append({"path": path, "modality": modality, "references": h.extra.get("referenced_series_uids") or [],
                        "label": extra["label"], "segments": extra["segments"], "tool": extra["tool"],
                        "date": extra["date"],
                        "patient_id": h.patient_id, "patient_name": h.patient_name, "study_uid": h.study_uid,
                        "study_date": h.study_date, "study_description": h.study_description})
        return out

    def series_headers(self, series_uid: str, folder: str | os.PathLike[str] | None = None) -> list[InstanceHeader]:
        """The stored headers of a series (of its files under ``folder`` if given), by instance number then path.

        No file is opened: this is what lets the viewer assemble a series at once.
        """
        scope = _Scope(os.path.abspath(folder), "i.path") if folder is not None else _Scope.everywhere("i.path")
        rows = self._query(
            "SELECT i.header FROM instances i JOIN series se ON i.series = se.id"
            f" WHERE se.series_uid = ? AND {scope.where} ORDER BY i.instance_number, i.path",
            [series_uid, *scope.args])
        return [header_from_json(text) for (text,) in rows]

    def folders(self) -> list[tuple[str, int | None]]:
        """Folders imported before, with the time of their last import (ns; None after a rebuild)."""
        return [(path, stamp) for path, stamp in self._query("SELECT path, imported_ns FROM folders ORDER BY path")]

    def counts(self) -> dict[str, int]:
        """Rows per table: patients, studies, series, instances, skipped_files."""
        return {table: self._query(f"SELECT COUNT(*) FROM {table}")[0][0]
                for table in ("patients", "studies", "series", "instances", "skipped_files")}

    def _series_in(self, scope: _Scope) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT se.series_uid FROM instances i JOIN series se ON i.series = se.id"
            f" WHERE {scope.where} ORDER BY se.series_uid", scope.args)
        return [uid for (uid,) in rows]

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        with _library_errors(self.path):
            return self._conn.execute(sql, args).fetchall()


class _Scope:
    """SQL condition for "paths at or under ``root``" that uses the path index (a range, not LIKE)."""

    def __init__(self, root: str, column: str = "path") -> None:
        if os.path.isfile(root) and dicomdir.is_dicomdir_name(os.path.basename(root)):
            root = os.path.dirname(root)  # a DICOMDIR stands for its folder
        prefix = root.rstrip(os.sep) + os.sep
        self.where = f"({column} = ? OR ({column} >= ? AND {column} < ?))"
        self.args: list[object] = [root, prefix, prefix[:-1] + chr(ord(os.sep) + 1)]

    @classmethod
    def everywhere(cls, column: str = "path") -> _Scope:
        scope = cls.__new__(cls)
        scope.where, scope.args = "1", []
        return scope


def _file_segmentations(study: StudyRow, references: dict[str, list[str]]) -> None:
    """Move a study's SEG/RTSTRUCT series under the series they were drawn on, when that series is listed.

    One whose images are not in the library stays a series of its own (it
    opens on its own geometry).
    """
    by_uid = {row.series_uid: row for row in study.series}
    kept = []
    for row in study.series:
        target = next((by_uid[u] for u in references.get(row.series_uid, []) if u in by_uid and u != row.series_uid),
                      None)
        if target is not None:
            target.segmentations.append(row)
        else:
            kept.append(row)
    study.series = kept


def _under_any(path: str, folders: Iterable[str]) -> bool:
    return any(path.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prune(conn: sqlite3.Connection, series_ids: Iterable[int]) -> None:
    """Delete series left without instances, then their studies and patients if they became empty."""
    for series_id in series_ids:
        if conn.execute("SELECT 1 FROM instances WHERE series = ? LIMIT 1", (series_id,)).fetchone():
            continue
        study = conn.execute("DELETE FROM series WHERE id = ? RETURNING study", (series_id,)).fetchone()
        if study is None or conn.execute("SELECT 1 FROM series WHERE study = ? LIMIT 1", study).fetchone():
            continue
        patient = conn.execute("DELETE FROM studies WHERE id = ? RETURNING patient", study).fetchone()
        if patient is not None and not conn.execute("SELECT 1 FROM studies WHERE patient = ? LIMIT 1",
                                                    patient).fetchone():
            conn.execute("DELETE FROM patients WHERE id = ?", patient)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it is committed, or none of it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _library_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise LibraryError(f"library database error ({exc})", path) from exc
