"""Write a folder of output files so that it appears whole or not at all.

Why: an export cancelled or failed halfway must not leave a folder that looks
like a finished series (a PACS or a colleague would take it for one). Files
are written into a hidden temporary folder beside the target, which is
renamed into place at the end (one rename on the same file system) or
removed on any error, cancel included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workstation.errors import ExportError


@contextmanager
def staged_folder(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out_dir`` when the block ends without an exception.

    ``out_dir`` must not exist or be empty: merging into a folder with files
    might mix copies with originals (it could be the sources' own folder).
    """
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError("output folder exists and is not empty", out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    except OSError as exc:
        raise ExportError(f"cannot create the output folder ({exc.strerror or exc})", out_dir) from exc
    try:
        yield tmp
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
