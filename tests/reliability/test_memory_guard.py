"""Volumes that do not fit are refused with one clear line, before any allocation, never killed by the kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workstation.dicom.memory_guard import NotEnoughMemory, available_bytes, ensure_fits, human


def test_available_memory_is_read_from_the_system() -> None:
    with open("/proc/meminfo") as f:
        total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    available = available_bytes()
    assert available is not None and 0 < available <= total_kb * 1024


def test_an_impossible_allocation_is_refused_with_a_reason() -> None:
    with pytest.raises(NotEnoughMemory) as caught:
        ensure_fits(2**50, "a volume of 65535 x 65535 x 262144 int16", "/data/huge.dcm")
    message = str(caught.value)
    assert message.startswith("/data/huge.dcm: a volume of 65535 x 65535 x 262144 int16 needs 1048576.0 GB")
    assert "\n" not in message
    ensure_fits(1024, "a small thing")  # a kilobyte always fits


def test_human_sizes() -> None:
    assert [human(n) for n in (512, 2048, 148 * 2**20, 3 * 2**30)] == ["512 bytes", "2.0 KB", "148.0 MB", "3.0 GB"]


CHILD = textwrap.dedent("""
    import resource, sys
    from workstation.dicom.load import load_volumes
    from workstation.errors import WorkstationError
    import workstation.volume  # SimpleITK and the decoders mapped before the limit
    with open("/proc/self/status") as f:
        size = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + 60 * 2**20, resource.RLIM_INFINITY))
    try:
        result = load_volumes(lambda fraction, message: None, None, sys.argv[1])
    except WorkstationError as exc:
        print("REFUSED", exc)
    else:
        print("LOADED", [v.array.shape for v in result.volumes], result.skipped)
""")


def test_the_loader_refuses_a_volume_larger_than_memory_left(cirs_ct: Path) -> None:
    """The CIRS CT (148 MB of voxels) under an address-space limit 60 MB above the interpreter's own size."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(cirs_ct)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REFUSED" in done.stdout, done.stdout
    assert "a volume of 512 x 512 x 283 int16 needs 141.5 MB but only" in done.stdout
    assert str(cirs_ct) in done.stdout
