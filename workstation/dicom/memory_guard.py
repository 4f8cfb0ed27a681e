"""Refuse an allocation that would not fit in memory, before making it.

Why: ``numpy.empty`` of a volume larger than memory succeeds (Linux
overcommits) and the process is killed later, mid-decode, by the kernel's
out-of-memory killer, taking the user's other work with it. A header can
declare any size (65535 x 65535 x thousands of frames) whatever the file
holds. So whoever allocates for declared sizes asks ``ensure_fits`` first and
the user gets one line saying what did not fit instead of a vanished program.
"""

from __future__ import annotations

import os
import resource
from os import PathLike

from workstation.errors import DicomError

HEADROOM = 0.85
"""Share of the available memory one allocation may take: decoding needs buffers beside the volume."""


class NotEnoughMemory(DicomError):
    """An allocation was refused because it would not fit in the memory available now."""


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space_left() -> int | None:
    """What RLIMIT_AS still allows this process to map (None when unlimited or unknown)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def available_bytes() -> int | None:
    """Memory one more allocation can use now: the smaller of MemAvailable and the address-space limit left."""
    known = [n for n in (_meminfo_available(), _address_space_left()) if n is not None]
    return min(known) if known else None


def human(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GB"


def ensure_fits(nbytes: int, what: str, path: str | PathLike[str] | None = None) -> None:
    """Raise ``NotEnoughMemory`` naming ``what`` and ``path`` when ``nbytes`` would not fit now."""
    available = available_bytes()
    if available is not None and nbytes > available * HEADROOM:
        raise NotEnoughMemory(f"{what} needs {human(nbytes)} but only {human(available)} of memory is available",
                              path)
