"""Write a file under a temporary name and rename it into place.

Why: an export that fails or is cancelled half way must leave no half file
(the job contract), and a reader must never see one. The rename is atomic on
one file system, so the temporary file sits beside the target. The
temporary name ends with the target's own name, so writers that choose the
format by extension (SimpleITK's image and transform writers) write the
right one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from workstation.errors import ExportError


@contextmanager
def atomic_output(output: str | PathLike[str], what: str) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; on success it becomes ``output``, on failure it is removed.

    An ``OSError`` becomes an ``ExportError`` naming the file and ``what`` was written.
    """
    out = Path(output)
    try:
        fd, name = tempfile.mkstemp(prefix=".partial-", suffix=f"-{out.name}", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise ExportError(f"cannot write the {what} ({exc.strerror or exc})", out) from exc
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, out)
    except OSError as exc:
        raise ExportError(f"cannot write the {what} ({exc.strerror or exc})", out) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
