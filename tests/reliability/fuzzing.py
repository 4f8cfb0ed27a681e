"""A mutation fuzzer for the DICOM path: real files bent out of shape, each run in a forked, limited child.

Seeds are real DICOM files (the CIRS scans, dcm_qa_ts's nine transfer
syntaxes, pydicom's and pydicom-data's odd files). A case is (seed, mutator,
random seed): deterministic, so any failure replays from its three values.
Mutators work on bytes, most of them aimed at the elements that matter
(Rows, Columns, BitsAllocated, PixelSpacing, ImageOrientationPatient,
ImagePositionPatient, TransferSyntaxUID...) through the offsets pydicom's raw
reader reports: truncation, flipped bytes, dropped or altered values, wrong
VRs, huge lengths, deeply nested sequences, splices of two files.

Every case runs in a child forked from a small case server (``CaseServer``:
a fresh interpreter that has imported only the reading path, never the test
process, whose gigabytes a forked child's peak RSS would count), with an
address-space limit and a CPU-time limit: header reading, the folder
scan, assembly, decoding (``load_volumes``), opening a damaged SEG or RTSTRUCT on the
images beside it (seeds from dcmqi and rt-utils) and ``workstation info``
must end, within the limits, with a result or with ``WorkstationError``s whose
one-line messages name the file. Anything else is a finding.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom

ROOT = Path(__file__).resolve().parents[2]
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
TIMEOUT_S = 30.0
"""CPU seconds a case may use before it counts as a hang (a CPU limit, not a wall clock: the same on a busy machine)."""
WALL_FACTOR = 10
"""A case blocked without spending CPU (a deadlock) is killed after ``WALL_FACTOR`` x its CPU budget of wall time."""
MEMORY_LIMIT = 2 * 2**30
"""Address space a case may add to the forked interpreter's own."""

PYDICOM_SEEDS = [
    "CT_small.dcm", "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG2000.dcm", "JPEG-lossy.dcm", "SC_rgb_rle.dcm",
    "rtdose.dcm", "image_dfl.dcm", "UN_sequence.dcm", "nested_priv_SQ.dcm", "ExplVR_BigEndNoMeta.dcm",
    "no_meta_group_length.dcm", "examples_palette.dcm", "examples_ybr_color.dcm", "liver_1frame.dcm",
]
DATA_STORE_SEEDS = [
    "emri_small.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm", "liver.dcm", "eCT_Supplemental.dcm",
    "SC_rgb_16bit_2frame.dcm", "OBXXXX1A_rle.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "bad_sequence.dcm",
    "explicit_VR-UN.dcm",
]
# Elements whose damage reaches geometry, pixel decoding or series assembly.
TARGETS = {
    0x00020010: "TransferSyntaxUID", 0x00280010: "Rows", 0x00280011: "Columns", 0x00280100: "BitsAllocated",
    0x00280101: "BitsStored", 0x00280102: "HighBit", 0x00280103: "PixelRepresentation",
    0x00280002: "SamplesPerPixel", 0x00280004: "PhotometricInterpretation", 0x00280008: "NumberOfFrames",
    0x00280030: "PixelSpacing", 0x00200037: "ImageOrientationPatient", 0x00200032: "ImagePositionPatient",
    0x00180050: "SliceThickness", 0x00181050: "SpacingBetweenSlices", 0x00281053: "RescaleSlope",
    0x00281052: "RescaleIntercept", 0x0020000E: "SeriesInstanceUID", 0x00200013: "InstanceNumber",
    0x00280006: "PlanarConfiguration", 0x7FE00010: "PixelData", 0x52009230: "PerFrameFunctionalGroupsSequence",
    0x52009229: "SharedFunctionalGroupsSequence", 0x00080060: "Modality", 0x00281050: "WindowCenter",
    0x00620001: "SegmentationType", 0x00620002: "SegmentSequence", 0x00081115: "ReferencedSeriesSequence",
    0x00200052: "FrameOfReferenceUID", 0x30060010: "ReferencedFrameOfReferenceSequence",
    0x30060020: "StructureSetROISequence", 0x30060039: "ROIContourSequence",
}
EVIL_TEXT = ["", "0", "-1", "NaN", "inf", "-inf", "1e308", "abc", "1\\2\\3\\4\\5\\6\\7", "\\\\", "0\\0\\0\\0\\0\\0",
             "1\\0\\0\\1\\0\\0", "1e-300\\1e-300", "nan\\nan\\nan", "99999999999999999999", " ", "1.2.3",
             "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2",
             "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.90", "MONOCHROME1", "RGB", "YBR_FULL_422", "PALETTE COLOR",
             "-0", "0.000000000001\\1e12", "1\\0\\0\\0\\1\\0\\0\\0\\1"]
EVIL_US = [0, 1, 2, 3, 7, 8, 12, 15, 16, 17, 31, 32, 33, 64, 255, 256, 32767, 32768, 65535]
LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
ALL_VRS = [b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
           b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
           b"UL", b"UN", b"UR", b"US", b"UT", b"UV", b"\x00\x00", b"zz"]


# -- seeds ---------------------------------------------------------------------------------------------------------

@dataclass
class Seed:
    """A real file (or a small real series whose first file is mutated) as bytes."""

    name: str
    files: list[bytes]


def seed_paths(shared_data: Path, test_data: Path) -> dict[str, list[Path]]:
    """Every seed by name; raises ``FileNotFoundError`` when a data set is missing (tests must not skip)."""
    import data_store  # pydicom-data, installed with the test extras

    store = Path(data_store.__file__).parent / "data"
    ct = test_data / "cirs057a" / "ct"
    seeds: dict[str, list[Path]] = {
        "cirs-ct-series": [ct / "100.dcm", ct / "101.dcm", ct / "102.dcm"],
        "cirs-mr": [test_data / "cirs057a" / "mr" / "19-100.dcm"],
    }
    seeds.update({f"dcm_qa_ts-{n}": [shared_data / "dcm_qa_ts" / "In" / f"{n}.dcm"] for n in range(1, 10)})
    dcmqi, rt = shared_data / "seg_samples" / "dcmqi", shared_data / "seg_samples" / "rt-utils"
    images = sorted((dcmqi / "24x38x3" / "image").glob("*.dcm"))  # the SEGs' images lie beside the damaged SEG
    seeds.update({
        "dcmqi-seg": [dcmqi / "24x38x3" / "seg" / "label.seg", *images],
        "dcmqi-labelmap-seg": [dcmqi / "sparse-labelmap-ppv5.dcm", *images],
        "rt-utils-rtstruct": [rt / "rt.dcm", rt / "ct_1.dcm", rt / "ct_2.dcm"],
    })
    seeds.update({f"pydicom-{name}": [PYDICOM_FILES / name] for name in PYDICOM_SEEDS})
    seeds.update({f"pydicom-data-{name}": [store / name] for name in DATA_STORE_SEEDS})
    missing = [str(p) for paths in seeds.values() for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"fuzz seeds missing: {missing}")
    return seeds


def load_seeds(shared_data: Path, test_data: Path) -> list[Seed]:
    return [Seed(name, [p.read_bytes() for p in paths]) for name, paths in seed_paths(shared_data, test_data).items()]


# -- where the elements are ------------------------------------------------------------------------------------------

@dataclass
class Located:
    """One top-level element's bytes in the file: ``start`` of its header, ``value`` offset and length."""

    tag: int
    start: int
    value: int
    length: int
    vr_at: int | None  # offset of the two VR characters (explicit VR only)
    long_header: bool


def _locate_meta(data: bytes) -> list[Located]:
    """The file meta elements (explicit VR little endian after the preamble); pydicom keeps no offsets for them."""
    found: list[Located] = []
    pos = 132 if data[128:132] == b"DICM" else len(data)
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in LONG_VRS:
            length, value = struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        else:
            length, value = struct.unpack_from("<H", data, pos + 6)[0], pos + 8
        found.append(Located(group << 16 | element, pos, value, length, pos + 4, vr in LONG_VRS))
        pos = value + length
    return found


def locate(data: bytes) -> list[Located]:
    """File meta and top-level dataset elements with their offsets (the dataset's from pydicom's raw reader)."""
    found = _locate_meta(data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, defer_size=64)
    except Exception:  # noqa: BLE001 - a seed pydicom cannot parse still gets byte-level mutations
        return found
    for tag in list(ds.keys()):
        raw = ds._dict.get(tag)
        tell = getattr(raw, "value_tell", None)
        if tell is None or tell < 8:
            continue
        length = getattr(raw, "length", 0) or 0
        length = 0 if length == 0xFFFFFFFF else length
        if getattr(raw, "is_implicit_VR", False):  # tag, 4-byte length
            found.append(Located(int(tag), tell - 8, tell, length, None, False))
        elif tell >= 12 and data[tell - 8:tell - 6] in LONG_VRS and data[tell - 6:tell - 4] == b"\0\0":
            found.append(Located(int(tag), tell - 12, tell, length, tell - 8, True))  # tag, VR, 0, 4-byte length
        else:
            found.append(Located(int(tag), tell - 8, tell, length, tell - 4, False))  # tag, VR, 2-byte length
    return found


def _pick(rng: random.Random, located: list[Located], targeted: bool = True) -> Located | None:
    pool = [e for e in located if e.tag in TARGETS] if targeted else located
    pool = pool or located
    return rng.choice(pool) if pool else None


def _header_bias(rng: random.Random, data: bytes) -> int:
    """An offset, half the time inside the first 4 KB where the header lives."""
    if not data:
        return 0
    return rng.randrange(min(len(data), 4096)) if rng.random() < 0.5 else rng.randrange(len(data))


def _encode_value(elem: Located, data: bytes, value: bytes) -> bytes:
    """``data`` with ``elem``'s value replaced by ``value`` and its length field updated."""
    value = value + (b" " if len(value) % 2 else b"")
    if elem.long_header:
        header = data[elem.start:elem.start + 8] + struct.pack("<I", len(value))
    elif elem.vr_at is not None:
        header = data[elem.start:elem.start + 6] + struct.pack("<H", min(len(value), 0xFFFF))
    else:
        header = data[elem.start:elem.start + 4] + struct.pack("<I", len(value))
    return data[:elem.start] + header + value + data[elem.value + elem.length:]


# -- mutators: (data, rng, other seeds' bytes) -> data ---------------------------------------------------------------

def truncate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    return data[:_header_bias(rng, data)]


def flip_bytes(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 24)):
        if out:
            out[_header_bias(rng, data)] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
    return bytes(out)


def drop_element(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    elem = _pick(rng, locate(data))
    return data if elem is None else data[:elem.start] + data[elem.value + elem.length:]


def alter_value(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    elem = _pick(rng, locate(data))
    if elem is None:
        return flip_bytes(data, rng, others)
    if elem.length == 2 and rng.random() < 0.7:  # US / SS: a small or absurd number
        value = struct.pack("<H", rng.choice(EVIL_US))
    elif elem.length == 4 and rng.random() < 0.3:
        value = struct.pack("<I", rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 65536]))
    elif elem.tag == 0x7FE00010:
        value = data[elem.value:elem.value + rng.randrange(max(1, elem.length))]
    else:
        value = rng.choice(EVIL_TEXT).encode()
    return _encode_value(elem, data, value)


def wrong_vr(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    candidates = [e for e in locate(data) if e.vr_at is not None]
    elem = _pick(rng, candidates) if candidates else None
    if elem is None:
        return flip_bytes(data, rng, others)
    out = bytearray(data)
    out[elem.vr_at:elem.vr_at + 2] = rng.choice(ALL_VRS)
    return bytes(out)


def huge_length(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    elem = _pick(rng, locate(data), targeted=rng.random() < 0.6)
    if elem is None:
        return data
    out = bytearray(data)
    if elem.long_header or elem.vr_at is None:
        at = elem.value - 4
        out[at:at + 4] = struct.pack("<I", rng.choice([0xFFFFFFFE, 0x7FFFFFFF, 0x10000000, len(data) + 2, 0xFFFFFFF0]))
    else:
        at = elem.value - 2
        out[at:at + 2] = struct.pack("<H", rng.choice([0xFFFF, 0xFFFE, 0x8000]))
    return bytes(out)


def nested_sequences(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """A Referenced Image Sequence nested thousands deep (undefined or defined lengths), inserted in order."""
    located = locate(data)
    depth = rng.choice([64, 500, 3000, 20000])
    explicit = any(e.vr_at is not None and e.tag >> 16 != 2 for e in located)
    sq_header = struct.pack("<HH", 0x0008, 0x1140) + (b"SQ\x00\x00" if explicit else b"")
    item, item_end = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF), struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    if rng.random() < 0.5:  # undefined lengths everywhere
        inner = b""
        for _ in range(depth):
            inner = sq_header + struct.pack("<I", 0xFFFFFFFF) + item + inner + item_end + seq_end
        blob = inner
    else:  # defined lengths, built inside out
        blob = b""
        for _ in range(depth):
            item_defined = struct.pack("<HHI", 0xFFFE, 0xE000, len(blob)) + blob
            blob = sq_header + struct.pack("<I", len(item_defined)) + item_defined
    after = [e for e in located if e.tag > 0x00081140 and e.tag >> 16 != 2]
    at = min((e.start for e in after), default=len(data))
    return data[:at] + blob + data[at:]


def splice(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    other = rng.choice(others) if others else data
    a, b = sorted(rng.randrange(len(other) + 1) for _ in range(2))
    at = _header_bias(rng, data)
    return data[:at] + other[a:b][:65536] + data[at + rng.randrange(0, 64):]


def stacked(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """Two or three mutations at once: damage rarely comes alone."""
    for _ in range(rng.randint(2, 3)):
        data = rng.choice([flip_bytes, drop_element, alter_value, wrong_vr, huge_length])(data, rng, others)
    return data


MUTATORS: dict[str, Callable[[bytes, random.Random, list[bytes]], bytes]] = {
    f.__name__: f for f in (truncate, flip_bytes, drop_element, alter_value, wrong_vr, huge_length,
                            nested_sequences, splice, stacked)
}


# -- cases -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    seed: str
    mutator: str
    rng_seed: int

    def label(self) -> str:
        return f"{self.seed}/{self.mutator}/{self.rng_seed}"


def corpus(seeds: list[Seed], count: int, start: int = 0) -> list[Case]:
    """``count`` cases cycling through every (seed, mutator) pair, each with its own random seed."""
    pairs = [(s.name, m) for s in seeds for m in MUTATORS]
    return [Case(*pairs[(start + n) % len(pairs)], rng_seed=start + n) for n in range(count)]


def materialise(case: Case, seeds: dict[str, Seed], folder: Path) -> Path:
    """Write the case's files into ``folder``; the mutated file's path (siblings of a series stay intact)."""
    seed = seeds[case.seed]
    rng = random.Random(case.rng_seed)
    others = [s.files[0] for s in seeds.values() if s.name != case.seed and len(s.files[0]) < 300_000]
    mutated = MUTATORS[case.mutator](seed.files[0], rng, others)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "case.dcm"
    target.write_bytes(mutated)
    for n, sibling in enumerate(seed.files[1:]):
        (folder / f"sibling-{n}.dcm").write_bytes(sibling)
    return target


# -- running a case in a limited child -------------------------------------------------------------------------------

@dataclass
class Outcome:
    case: str
    status: str  # "ok" (all stages ended as the contract says) | "finding" | "hang" | "died"
    problems: list[str] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the child's, which includes the pages it shares with the server it forked from
    forked_from_rss_mb: float = 0.0


def _one_line_naming(message: str, name: str) -> bool:
    return "\n" not in message and name in message and len(message.split(": ", 1)) == 2


def exercise(folder: Path, target: Path) -> tuple[dict[str, str], list[str]]:
    """Run every reading stage on the case; (stage -> what happened, problems)."""
    import numpy as np

    from workstation.cli.main import main as cli_main
    from workstation.dicom.assemble import assemble
    from workstation.dicom.header import read_header
    from workstation.dicom.label_objects import object_kind, open_label_object
    from workstation.dicom.load import load_volumes
    from workstation.dicom.scan import scan_folder
    from workstation.errors import WorkstationError
    from workstation.jobs import no_progress

    stages: dict[str, str] = {}
    problems: list[str] = []

    def guarded(stage: str, name: str, fn: Callable[[], object]) -> object:
        try:
            result = fn()
        except WorkstationError as exc:
            stages[stage] = f"refused: {exc}"
            if not _one_line_naming(str(exc), name):
                problems.append(f"{stage}: message not one line naming {name}: {exc!r}")
            return None
        except BaseException as exc:  # noqa: BLE001 - exactly what the fuzzer looks for
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            where = traceback.extract_tb(exc.__traceback__)[-1]
            stages[stage] = "crashed"
            problems.append(f"{stage}: {type(exc).__name__}: {str(exc)[:200]} at "
                            f"{Path(where.filename).name}:{where.lineno}")
            return None
        stages[stage] = "ok"
        return result

    guarded("header", str(target), lambda: read_header(target))
    scanned = guarded("scan", str(folder), lambda: scan_folder(no_progress, None, folder))
    headers = list(getattr(scanned, "headers", []) or [])
    for path, reason in getattr(scanned, "skipped", []) or []:
        if "\n" in reason or str(folder) not in path:
            problems.append(f"scan: skipped entry not one line naming the file: {path!r} {reason!r}")
    guarded("assemble", str(folder), lambda: assemble(headers, []))
    loaded = guarded("load", str(folder), lambda: load_volumes(no_progress, None, folder))
    for entry in getattr(loaded, "skipped", []) or []:
        line = str(entry)
        if not _one_line_naming(line, str(folder)):
            problems.append(f"load: skipped entry not one line naming the file: {line!r}")
    if object_kind(target):  # a SEG or RTSTRUCT: all of it on its images' grid, or refused naming the file
        maps = guarded("labels", str(target), lambda: open_label_object(no_progress, None, target)) or []
        for labels in maps:
            numbers = {0} | {s.number for s in labels.segments}
            if not set(np.unique(labels.array).tolist()) <= numbers:
                problems.append(f"labels: voxel values name no segment in {target}")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = guarded("info", str(folder), lambda: cli_main(["info", "--json", str(folder)]))
    stages["info"] = f"exit {code}"
    if code not in (0, 2):
        problems.append(f"info: exit code {code}: {err.getvalue().strip()[:300]}")
    elif code == 2 and str(folder) not in err.getvalue():
        problems.append(f"info: error does not name the file: {err.getvalue().strip()[:300]}")
    return stages, problems


def _status(field_name: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field_name + ":"))


def _vm_size() -> int:
    return _status("VmSize")


def _rss() -> int:
    return _status("VmRSS")


def _fork_case(folder: Path, target: Path, timeout: float) -> dict[str, object]:
    """In the case server: fork, limit, exercise, report; a child past ``timeout`` CPU seconds is a hang.

    The kernel stops it at the CPU limit (SIGXCPU); a child that blocks
    without computing is killed at ``WALL_FACTOR`` times that in wall time.
    """
    limit = _vm_size() + MEMORY_LIMIT
    read_end, write_end = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the server's stdout carries its replies
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            cpu = math.ceil(timeout)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            stages, problems = exercise(folder, target)
            payload = json.dumps({"stages": stages, "problems": problems}).encode()
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:  # noqa: BLE001 - report whatever escaped, then leave without cleanup handlers
            code = 70
        os._exit(code)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = started + WALL_FACTOR * timeout
    hang = False
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                hang = True
                break
            ready, _, _ = select.select([pipe], [], [], min(left, 0.5))
            if ready:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    _, wait_status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) in (signal.SIGXCPU, signal.SIGKILL):
        hang = True  # the CPU limit (soft: SIGXCPU, hard: SIGKILL) or our wall-clock kill
    try:
        report = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        report = {}
    return {"hang": hang, "report": report, "wait_status": wait_status, "seconds": time.monotonic() - started,
            "peak_rss_mb": usage.ru_maxrss / 1024, "server_rss_mb": _rss() / 2**20}


def _serve() -> None:
    """The case server's loop: one JSON request a line on stdin, one JSON reply a line on stdout."""
    import workstation.cli.main  # noqa: F401 - imported once, here, so each fork starts warm
    import workstation.dicom.label_objects  # noqa: F401
    import workstation.dicom.load  # noqa: F401
    import workstation.dicom.rtstruct  # noqa: F401
    import workstation.dicom.seg  # noqa: F401
    import workstation.volume  # noqa: F401

    for line in sys.stdin:
        request = json.loads(line)
        reply = _fork_case(Path(request["folder"]), Path(request["target"]), request["timeout"])
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


class CaseServer:
    """A fresh, small interpreter (``python fuzzing.py --serve``) that forks one child per case.

    Spawned, not forked, so a child's peak RSS is the case's (plus the
    server's few hundred MB, reported as ``forked_from_rss_mb``).
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        self.server_rss_mb = 0.0

    def run(self, folder: Path, target: Path, timeout: float) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"folder": str(folder), "target": str(target), "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fuzz case server ended (exit {self.process.wait()})")
        reply = json.loads(line)
        self.server_rss_mb = max(self.server_rss_mb, reply["server_rss_mb"])
        return reply

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> CaseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_case(case: Case, seeds: dict[str, Seed], workdir: Path, server: CaseServer,
             timeout: float = TIMEOUT_S) -> Outcome:
    """Write the case's files and have ``server`` run it in a limited child."""
    folder = workdir / "case"
    shutil.rmtree(folder, ignore_errors=True)
    target = materialise(case, seeds, folder)
    reply = server.run(folder, target, timeout)
    outcome = Outcome(case.label(), "ok", seconds=reply["seconds"], peak_rss_mb=reply["peak_rss_mb"],
                      forked_from_rss_mb=reply["server_rss_mb"])
    if reply["hang"]:
        outcome.status = "hang"
        outcome.problems.append(f"no result within {timeout:.0f} CPU seconds")
        return outcome
    report = reply["report"]
    if not report:
        outcome.status = "died"
        outcome.problems.append(f"child ended without a report (wait status {reply['wait_status']})")
        return outcome
    outcome.stages, outcome.problems = report["stages"], report["problems"]
    if outcome.problems:
        outcome.status = "finding"
    return outcome


def run_cases(cases: list[Case], seeds: list[Seed], workdir: Path, server: CaseServer,
              on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    by_name = {s.name: s for s in seeds}
    outcomes = []
    for case in cases:
        outcome = run_case(case, by_name, workdir, server)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, object]:
    """Counts by status, the worst time and memory, and every finding (JSON-able)."""
    worst_time = max(outcomes, key=lambda o: o.seconds)
    worst_mem = max(outcomes, key=lambda o: o.peak_rss_mb)
    return {
        "cases": len(outcomes),
        "by_status": {s: sum(o.status == s for o in outcomes) for s in ("ok", "finding", "hang", "died")},
        "refused_somewhere": sum(any(v.startswith("refused") for v in o.stages.values()) for o in outcomes),
        "worst_seconds": [round(worst_time.seconds, 2), worst_time.case],
        "worst_peak_rss_mb": [round(worst_mem.peak_rss_mb, 1), worst_mem.case],
        "forked_from_rss_mb": round(max(o.forked_from_rss_mb for o in outcomes), 1),
        "findings": [asdict(o) for o in outcomes if o.status != "ok"],
    }


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
