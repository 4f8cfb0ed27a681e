"""Measurements saved with their series, in their own SQLite file.

Why: a measurement drawn today must be there when the series is opened
again. The library database is an index of the files that is moved aside and
rebuilt when its schema changes or it is damaged; measurements exist nowhere
else, so they live in ``paths.measurements_path()``, a file the library never
touches, keyed by SeriesInstanceUID. Measurements are
stored as the plain dicts of ``workstation.measurements`` (JSON), in order,
and a save replaces the series' whole list in one transaction: a crash never
leaves half a list.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from workstation import paths
from workstation.errors import LibraryError

SCHEMA = """
CREATE TABLE IF NOT EXISTS series_measurements (
    series_uid TEXT NOT NULL,
    position INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (series_uid, position)
)
"""


class MeasurementStore:
    """Per-series measurement lists in ``database`` (``paths.measurements_path()`` by default)."""

    def __init__(self, database: str | PathLike[str] | None = None) -> None:
        self.path = Path(database) if database is not None else paths.measurements_path()
        db = self._connect()
        try:
            with db:
                db.execute(SCHEMA)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=10.0)
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot open the measurement table ({exc})", self.path) from exc

    def save(self, series_uid: str, measurements: Sequence[Mapping[str, Any]]) -> None:
        """Replace the series' measurements with ``measurements`` (an empty list deletes them)."""
        rows = [(series_uid, n, json.dumps(dict(m), sort_keys=True)) for n, m in enumerate(measurements)]
        db = self._connect()
        try:
            with db:
                db.execute("DELETE FROM series_measurements WHERE series_uid = ?", (series_uid,))
                db.executemany("INSERT INTO series_measurements VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot save the measurements of a series ({exc})", self.path) from exc
        finally:
            db.close()

    def load(self, series_uid: str) -> list[dict[str, Any]]:
        """The series' measurements in the order they were saved; none when never measured."""
        db = self._connect()
        try:
            rows = db.execute("SELECT data FROM series_measurements WHERE series_uid = ? ORDER BY position",
                              (series_uid,)).fetchall()
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot read the measurements of a series ({exc})", self.path) from exc
        finally:
            db.close()
        return [json.loads(data) for (data,) in rows]

    def measured_series(self) -> set[str]:
        """UIDs of the series that have measurements (the browser marks them)."""
        db = self._connect()
        try:
            return {uid for (uid,) in db.execute("SELECT DISTINCT series_uid FROM series_measurements")}
        except sqlite3.Error as exc:
            raise LibraryError(f"cannot read the measurement table ({exc})", self.path) from exc
        finally:
            db.close()
