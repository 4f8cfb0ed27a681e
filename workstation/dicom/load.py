"""Files or folders in, exact Volumes out: headers, assembly, then parallel decoding into one array.

Two levels, both jobs (``progress``, ``cancel`` first):

- ``load_volumes(progress, cancel, paths)`` reads every header, assembles the volumes
  (``assemble``), decodes them and says which files it left out and why;
- ``load_plan(progress, cancel, plan, on_slice=...)`` decodes one planned volume. It decodes
  the middle slice first, in the calling thread, and hands each finished
  slice to ``on_slice`` so a viewer can show an image long before the whole
  volume is there.

``plan_volumes(progress, cancel, paths)`` stops before the pixels: ``workstation info`` and the
library describe volumes without decoding them.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np

from workstation.dicom.assemble import SeriesPlan, assemble, kind_name
from workstation.dicom.decode import (
    OutputType,
    decode_into,
    mirror_window,
    modality_lut,
    output_type,
    pixel_problem,
    stored_dtype,
    widen,
)
from workstation.dicom.frames import Frame
from workstation.dicom.header import InstanceHeader
from workstation.dicom.label_objects import LABEL_OBJECT_CLASSES
from workstation.dicom.memory_guard import ensure_fits
from workstation.dicom.scaling import FIELD_MAP, Scaling, fp_factor
from workstation.dicom.scan import scan_folder
from workstation.errors import DicomError, Skipped
from workstation.jobs import CancelFlag, Progress, check_cancel, scaled_progress

if TYPE_CHECKING:  # workstation.volume imports SimpleITK (0.2 s): only loading needs it, not planning
    from workstation.volume import Volume, VolumeMeta

PathsLike = str | PathLike[str] | Iterable[str | PathLike[str]]
SliceCallback = Callable[[int, np.ndarray], None]
Allocator = Callable[[tuple[int, ...], np.dtype], np.ndarray]
"""Makes the uninitialised array a volume is decoded into (``np.empty`` by default).

Command-line jobs pass ``volume.sitk_array`` (the array lives inside a SimpleITK image, so ``Volume.to_sitk``
hands it over without a 0.3 s copy). The window must not: a SimpleITK image releases the GIL when it is
freed, and a volume's array is often freed inside VTK's garbage collector (from a render window's
ghost), which holds a lock the GUI thread then waits for with the GIL: a deadlock, seen in CI."""
DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class LoadResult:
    """The volumes loaded and the files left out."""

    volumes: list[Volume] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def read_headers(progress: Progress, cancel: CancelFlag | None, paths: PathsLike,
                 skipped: list[Skipped] | None = None) -> list[InstanceHeader]:
    """Headers of the decodable DICOM images under ``paths`` (files or folders, walked by ``scan``).

    Files that are not DICOM, or whose pixels cannot be decoded (checked
    before anything is allocated), go to ``skipped``.
    """
    items = [paths] if isinstance(paths, (str, PathLike)) else list(paths)
    if not items:
        raise DicomError("no files or folders given")
    out = skipped if skipped is not None else []
    headers = []
    for n, item in enumerate(items):
        result = scan_folder(scaled_progress(progress, n / len(items), (n + 1) / len(items)), cancel, item)
        out.extend(result.skipped)
        for header in result.headers:
            decodable = header.has_pixel_data and header.sop_class_uid not in LABEL_OBJECT_CLASSES  # said by assemble
            problem = pixel_problem(header) if decodable else None
            if problem:
                out.append(Skipped(header.path, problem))
            else:
                headers.append(header)
    return headers


def plan_volumes(progress: Progress, cancel: CancelFlag | None, paths: PathsLike,
                 skipped: list[Skipped] | None = None, scaling: Scaling = "display") -> list[SeriesPlan]:
    """The volumes under ``paths``, from headers only (nothing decoded)."""
    return assemble(read_headers(progress, cancel, paths, skipped), skipped, scaling)


def load_volumes(progress: Progress, cancel: CancelFlag | None, paths: PathsLike, series_uid: str | None = None,
                 allocate: Allocator = np.empty, scaling: Scaling = "display") -> LoadResult:
    """Load every volume under ``paths`` (or those of one series), Philips data in ``scaling``'s values; a job.

    Raises ``DicomError`` when nothing loadable is found, with the first
    reason files were left out.
    """
    result = LoadResult()
    plans = plan_volumes(scaled_progress(progress, 0.0, 0.2), cancel, paths, result.skipped, scaling)
    if series_uid is not None:
        plans = [p for p in plans if p.series_uid == series_uid]
        if not plans:
            raise DicomError(f"no loadable series {series_uid} here", _first_path(paths))
    if not plans:
        raise nothing_loadable(paths, result.skipped)
    total = sum(len(p.frames) for p in plans)
    done = 0
    for plan in plans:
        share = len(plan.frames) / total
        start = 0.2 + 0.8 * done / total
        try:
            result.volumes.append(load_plan(scaled_progress(progress, start, start + 0.8 * share), cancel, plan,
                                            skipped=result.skipped, allocate=allocate))
        except DicomError as exc:  # one undecodable series costs that series, not the others
            result.skipped.append(Skipped.of(exc))
        done += len(plan.frames)
    if not result.volumes:
        raise nothing_loadable(paths, result.skipped)
    progress(1.0, f"loaded {len(result.volumes)} volume(s)")
    return result


def nothing_loadable(paths: PathsLike, skipped: Sequence[Skipped]) -> DicomError:
    """The error for paths that hold no volume, with the first reason a file was left out."""
    reason = f" ({len(skipped)} file(s) left out; first: {skipped[0]})" if skipped else ""
    return DicomError(f"no loadable DICOM images{reason}", _first_path(paths))


def _first_path(paths: PathsLike) -> str:
    return str(paths) if isinstance(paths, (str, PathLike)) else str(next(iter(paths), ""))


# -- one volume ------------------------------------------------------------------------------------------------------

def load_plan(progress: Progress, cancel: CancelFlag | None, plan: SeriesPlan, on_slice: SliceCallback | None = None,
              skipped: list[Skipped] | None = None, allocate: Allocator = np.empty) -> Volume:
    """Decode one planned volume into one preallocated array; a job.

    The middle slice (of the first time point) is decoded first, in this
    thread, then the others in ``DECODE_THREADS`` threads (native frames are
    read with ``readinto``, which releases the GIL; the compressed-pixel
    plugins run in C). ``on_slice(k, slice)`` gets each finished slice of the
    first time point, the middle one first, possibly from a worker thread.
    A frame that fails to decode is reported in ``skipped`` and the volume's
    warnings and filled with the volume's lowest value.
    """
    present = [f for f in plan.frames if f is not None]
    kind = output_type(present)
    ensure_fits(math.prod(plan.shape) * np.dtype(kind.dtype).itemsize,
                f"a volume of {' x '.join(map(str, plan.shape[::-1]))} {np.dtype(kind.dtype).name}",
                present[0].header.path if present else None)
    array = allocate(plan.shape, np.dtype(kind.dtype))
    decoder = _SlotDecoder(plan, array, kind, on_slice)
    middle = plan.slices // 2
    order = [middle] + [n for n in range(len(plan.frames)) if n != middle]
    check_cancel(cancel)
    decoder.decode(order[:1])
    chunks = [order[n:n + 16] for n in range(1, len(order), 16)]
    with ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode") as pool:
        futures = [pool.submit(decoder.decode, chunk, cancel) for chunk in chunks]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
            for future in finished:
                if not future.cancelled():  # cancelled below, before it started: check_cancel reports it
                    future.result()
            progress(decoder.count / len(order), f"decoding {plan.description or plan.series_uid}")
            if cancel is not None and cancel.is_set():
                for future in pending:
                    future.cancel()
    check_cancel(cancel)
    array, warnings = decoder.finish(skipped)
    from workstation.volume import Volume

    return Volume.from_parts(array, plan.spacing, plan.origin, plan.direction, _meta(plan, warnings))


class _SlotDecoder:
    """Fills the slots of one volume array from several threads and remembers what needs finishing."""

    def __init__(self, plan: SeriesPlan, array: np.ndarray, kind: OutputType, on_slice: SliceCallback | None) -> None:
        self.plan = plan
        self.array = array
        self.flat = array.reshape(-1, plan.rows, plan.columns)
        self.kind = kind
        self.on_slice = on_slice
        self.raw: dict[int, tuple[np.dtype, float, float]] = {}
        self.failed: dict[int, DicomError] = {}
        self.count = 0
        self._lock = threading.Lock()

    def decode(self, slots: list[int], cancel: CancelFlag | None = None) -> None:
        for n in slots:
            if cancel is not None and cancel.is_set():
                return
            frame = self.plan.frames[n]
            if frame is not None:
                self._decode_one(n, frame)
            with self._lock:
                self.count += 1
            if self.on_slice is not None and n < self.plan.slices and frame is not None and n not in self.failed:
                self.on_slice(n, self.flat[n])

    def _decode_one(self, n: int, frame: Frame) -> None:
        try:
            result = decode_into(frame, self.flat[n], self.kind)
        except DicomError as exc:
            with self._lock:
                self.failed[n] = exc
            return
        if result.raw_range is not None:
            slope, intercept = modality_lut(frame)
            with self._lock:
                self.raw[n] = (stored_dtype(frame.header), slope, intercept)

    def finish(self, skipped: list[Skipped] | None) -> tuple[np.ndarray, list[str]]:
        """Widen if real values overflowed the dtype, fill missing and failed slots; the warnings to add.

        When no frame decoded, the first failure is raised (the others go to ``skipped``).
        """
        failures = list(dict.fromkeys(Skipped.of(exc) for exc in self.failed.values()))
        empty = [n for n, f in enumerate(self.plan.frames) if f is None or n in self.failed]
        nothing = len(empty) == len(self.plan.frames)
        if skipped is not None:
            skipped.extend(failures[1:] if nothing else failures)
        if nothing:
            raise next(iter(self.failed.values()))
        warnings = [f"left out: {failure}" for failure in failures]
        array = widen(self.array, self.raw) if self.raw else self.array
        if self.raw:
            warnings.append(f"real values exceed {self.kind.dtype}: stored as int32")
        if empty:
            flat = array.reshape(-1, self.plan.rows, self.plan.columns)
            filled = np.ones(len(flat), dtype=bool)
            filled[empty] = False
            lowest = min(flat[n].min() for n in np.flatnonzero(filled))
            flat[empty] = lowest
        return array, warnings


# -- what the voxels mean ---------------------------------------------------------------------------------------------

def _units(header: InstanceHeader) -> str:
    rescale_type = header.rescale_type.strip().upper()
    if header.modality.upper() == "CT" and rescale_type in ("", "HU"):
        return "HU"
    return "" if rescale_type in ("", "US") else header.rescale_type.strip()


def _meta(plan: SeriesPlan, warnings: list[str]) -> VolumeMeta:
    from workstation.volume import VolumeMeta, WindowPreset

    h = plan.reference
    first = next(f for f in plan.frames if f is not None)
    presets = [WindowPreset(name, mirror_window(h, first.rescale_slope, first.rescale_intercept, center), width)
               for name, center, width in first.windows]
    extra: dict[str, object] = {"paths": plan.files, "transfer_syntax_uid": h.transfer_syntax_uid,
                                "headers": {f.header.path: f.header for f in plan.frames if f is not None},
                                "header_windows_vary": len({f.windows for f in plan.frames if f is not None}) > 1,
                                "scaling": plan.scaling}
    factors = {fp_factor(f) for f in plan.frames if f is not None}
    if len(factors) == 1 and None not in factors:  # display values here; the probe also shows the FP value
        extra["philips_fp_per_display"] = factors.pop()
    if plan.diffusion is not None:
        extra["diffusion"] = plan.diffusion
    if first.kind:
        extra["kind"] = kind_name(first.kind)
    repetition_time = first.extra.get("repetition_time", h.repetition_time)  # enhanced objects: per frame group
    if repetition_time is not None:
        extra["repetition_time_ms"] = repetition_time
    return VolumeMeta(
        modality=h.modality, units="Hz" if first.kind == FIELD_MAP else _units(h), description=plan.description,
        series_uid=plan.series_uid,
        series_number=h.series_number, study_uid=h.study_uid, frame_of_reference_uid=h.frame_of_reference_uid,
        patient_name=h.patient_name, patient_id=h.patient_id, patient_position=h.patient_position,
        study_date=h.study_date, window_presets=presets, warnings=plan.warnings + warnings, files=len(plan.files),
        extra=extra)
