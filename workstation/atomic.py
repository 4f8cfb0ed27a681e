"""Write a file under a temporary name and rename it into place.

Why: an export that fails or is cancelled half way must leave no half file
(the job contract), and a reader must never see one. The rename is atomic on
one file system, so the temporary file sits beside the target. The
temporary name ends with the target's own name, so writers that choose the
format by extension (SimpleITK's image and transform writers) write the
right one. ``mkstemp`` creates its file with mode 0600; the finished file gets
the mode any other new file would have (0666 less the umask, 0644 under the
usual 022), so the user's group and tools can read what was exported.
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
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as exc:
        raise ExportError(f"cannot write the {what} ({exc.strerror or exc})", out) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask: from /proc on Linux; elsewhere by setting it and straight back (racy with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
