"""Library damage beyond what tests/dicom/test_library.py covers (first page, not-a-database, schema, SIGKILL).

Here: a library file cut short (a full disk, a copy interrupted) and one
with garbage in its data pages, the header intact. Either is detected on
opening, moved aside and rebuilt, the sources read only, and a re-import
gives the whole library back.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from planted_study import sha256_tree

from workstation.dicom.library import Library
from workstation.jobs import no_progress


@pytest.fixture
def imported(tmp_path: Path, cirs_ct: Path) -> tuple[Path, Path, int]:
    """A library holding 60 CIRS CT slices (copies); (library path, folder, page count)."""
    folder = tmp_path / "ct"
    folder.mkdir()
    for source in sorted(cirs_ct.iterdir())[:60]:
        shutil.copy(source, folder / source.name)
    path = tmp_path / "library.sqlite"
    with Library(path) as library:
        assert library.import_folder(no_progress, None, folder).new == 60
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the main file, as after a clean exit
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    return path, folder, pages


def _rebuilt_and_complete(path: Path, folder: Path) -> None:
    before = sha256_tree(sorted(folder.iterdir()))
    with Library(path) as library:
        assert library.rebuilt is not None and "damaged" in library.rebuilt
        assert library.counts()["instances"] == 0
        assert library.import_folder(no_progress, None, folder).new == 60
        assert library.counts()["instances"] == 60
        assert len(library.tree()) == 1
    assert sha256_tree(sorted(folder.iterdir())) == before
    assert [p for p in path.parent.iterdir() if p.name.startswith("library.sqlite.corrupt-")]


def test_library_cut_short_is_rebuilt(imported: tuple[Path, Path, int]) -> None:
    path, folder, pages = imported
    assert pages > 4
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    _rebuilt_and_complete(path, folder)


def test_garbage_in_data_pages_is_rebuilt(imported: tuple[Path, Path, int]) -> None:
    path, folder, pages = imported
    data = bytearray(path.read_bytes())
    page_size = len(data) // pages
    for page in range(2, pages):  # every page but the header page and the schema page
        start = page * page_size
        data[start:start + page_size] = bytes((n * 37 + page) % 251 for n in range(page_size))
    path.write_bytes(bytes(data))
    _rebuilt_and_complete(path, folder)
