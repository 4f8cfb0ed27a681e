"""Registration runs and exports as jobs, Qt-free: what a run needs, its live events, the resampled writers.

Why outside the app: the window's controller, the CLI and tests run the same
jobs; ``RunRequest.to_dict`` is what the history stores to replay a run.
Iteration events are batched on the worker (``EventBatcher``) into progress
and into ``LiveBatch`` objects a GUI posts to its own thread, at most
``LIVE_INTERVAL_S`` apart.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from registration.parameters import RegistrationParameters
from workstation.errors import ExportError
from workstation.image_io import split_extension, write_volume
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap
from workstation.volume import Volume

if TYPE_CHECKING:
    import SimpleITK as sitk

    from registration.deformation import Folding
    from registration.runner import IterationEvent, RegistrationResult

log = logging.getLogger("workstation.registration")

LIVE_INTERVAL_S = 0.2
"""Worker-side batching of iteration events, and the shortest time between two view updates (five a second)."""
SEARCH_SHARE = 0.3
"""Share of the progress bar given to the orientation search, whose length is not known in advance."""
WORKER_NICENESS = 10
MAP_SPACING_MM = 2.0
"""Grid of the Jacobian and displacement maps and of the warped grid's lines: a B-spline varies over centimetres,
and evaluating it on a 2 mm grid costs an eighth of a 1 mm one (on the whole cirs MR, 27 M voxels, a 1 mm grid
of lines took as long as resampling the image and 2 GB)."""
GRID_LINE_SPACING_MM = 10.0


@dataclass
class RunRequest:
    """Everything that, with the two images, replays a run: parameters, start, seed, threads, points."""

    params: RegistrationParameters
    init: str = "auto"
    seed: int = 0
    threads: int | None = None
    initial: np.ndarray | None = None            # a manual start (init "manual")
    fixed_landmarks: np.ndarray | None = None
    moving_landmarks: np.ndarray | None = None
    fixed_mask: Volume | None = None             # 0/1 on the fixed grid: where the metric samples (a segment)
    fixed_mask_name: str = ""                    # what the mask was (the history names it)
    fixed_mask_file: str = ""                    # where the history keeps the mask's voxels (``save_mask``)

    def to_dict(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a).tolist()

        return {"parameters": self.params.to_dict(), "init": self.init, "seed": self.seed, "threads": self.threads,
                "initial_matrix_lps": listed(self.initial), "fixed_landmarks": listed(self.fixed_landmarks),
                "moving_landmarks": listed(self.moving_landmarks),
                "fixed_mask": self.fixed_mask_name if self.fixed_mask is not None else None,
                "fixed_mask_file": self.fixed_mask_file or None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRequest:
        """The request back, without the mask's voxels: ``fixed_mask_file`` says where they are kept."""
        def array(key: str) -> np.ndarray | None:
            return None if data.get(key) is None else np.asarray(data[key], dtype=np.float64)

        return cls(RegistrationParameters.from_dict(data["parameters"]), data.get("init", "auto"),
                   int(data.get("seed", 0)), data.get("threads"), array("initial_matrix_lps"),
                   array("fixed_landmarks"), array("moving_landmarks"),
                   fixed_mask_name=data.get("fixed_mask") or "", fixed_mask_file=data.get("fixed_mask_file") or "")


@dataclass
class LiveBatch:
    """Iteration events since the last batch: (series, metric) in order, and the latest transform."""

    points: list[tuple[str, float]]
    matrix: np.ndarray


def series_name(event: IterationEvent) -> str:
    if event.stage == "level":
        return f"level {event.level}"
    return "bulk" if event.stage == "bulk" else "search"


@dataclass
class EventBatcher:
    """Runs on the worker: turns iteration events into progress and into batches posted to the GUI thread."""

    post: Callable[[LiveBatch], None] | None
    progress: Progress
    planned: list[int]
    interval: float = LIVE_INTERVAL_S
    points: list[tuple[str, float]] = field(default_factory=list)
    matrix: np.ndarray | None = None
    last_post: float = 0.0
    search_events: int = 0

    def __call__(self, event: IterationEvent) -> None:
        self.points.append((series_name(event), float(event.metric)))
        self.matrix = event.matrix_lps
        if event.stage == "level":
            done = sum(self.planned[:event.level]) + event.iteration
            fraction = SEARCH_SHARE + (1 - SEARCH_SHARE) * done / max(sum(self.planned), 1)
            message = f"level {event.level + 1} of {len(self.planned)}, iteration {event.iteration}"
        else:
            self.search_events += 1
            fraction = SEARCH_SHARE * (1 - math.exp(-self.search_events / 200))
            message = "orientation search" if event.stage != "bulk" else "rigid stage"
        self.progress(min(fraction, 0.99), message)
        if time.monotonic() - self.last_post >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self.post is not None and self.points and self.matrix is not None:
            self.post(LiveBatch(self.points, self.matrix))
        self.points, self.last_post = [], time.monotonic()


def lower_thread_priority(niceness: int = WORKER_NICENESS) -> None:
    """Let the calling worker thread (and the ITK threads it starts) yield the CPU to the GUI thread.

    On Linux a thread is a task with its own nice value, inherited by the
    threads it creates; on a two-core machine a registration using both cores
    would otherwise make every render wait. Elsewhere this does nothing.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            log.debug("could not lower the registration thread's priority", exc_info=True)


def run_registration(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume, request: RunRequest,
                     post: Callable[[LiveBatch], None] | None = None) -> RegistrationResult:
    """The job: one registration run, reporting live batches through ``post``."""
    from registration.runner import register  # deferred: faster start-up
    lower_thread_priority()
    batcher = EventBatcher(post, progress, [level.iterations for level in request.params.levels])
    result = register(fixed, moving, request.params, init=request.init, seed=request.seed, threads=request.threads,
                      on_iteration=batcher, cancel=cancel, initial_transform=request.initial,
                      fixed_mask=request.fixed_mask,
                      fixed_landmarks=request.fixed_landmarks, moving_landmarks=request.moving_landmarks)
    batcher.flush()
    progress(1.0, "registration done")
    return result


def write_resampled_image(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume,
                          transform: np.ndarray | sitk.Transform, path: str) -> Path:
    """The job: the moving volume on the fixed grid through ``transform`` (a 4x4 matrix or a deformable one),
    written by ``image_io.write_volume`` (.nii, .nii.gz, .nrrd or .mha; never a half file, a sheared grid never to
    NIfTI)."""
    from registration.resample import resample_to  # deferred: faster start-up
    out = Path(path)
    split_extension(out)  # refuse an unknown format before the work
    progress(0.1, "resampling")
    resampled = resample_to(fixed, moving, transform, cancel=cancel)
    check_cancel(cancel)
    progress(0.6, f"writing {out.name}")
    write_volume(resampled, out)
    progress(1.0, "image written")
    return out


def write_resampled_dicom(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume,
                          transform: np.ndarray | sitk.Transform, out_dir: str, reference: str | None) -> list[Path]:
    """The job: the moving volume on the fixed grid as a new DICOM series in the fixed frame of reference."""
    from registration.resample import resample_to  # deferred: faster start-up
    from workstation.dicom.export import export_dicom_series
    if reference is None:
        raise ExportError("the fixed volume has no DICOM header to take patient and study from", out_dir)
    resampled = resample_to(fixed, moving, transform, cancel=cancel)
    check_cancel(cancel)
    describe = lambda v: v.meta.description or v.meta.modality or "series"
    description = f"{describe(moving)} registered to {describe(fixed)}"[:64]
    return export_dicom_series(progress, cancel, resampled, out_dir, reference, description,
                               fixed.meta.frame_of_reference_uid)


@dataclass
class DeformationViews:
    """What the window shows of a deformable result, all on the fixed image's space.

    ``warped`` is the moving volume through the whole transform (the fused
    view's linear matrix alone would hide the deformable part); ``gridded``
    is the same with the warped grid's lines (drawn on the maps' grid,
    ``MAP_SPACING_MM`` over the fixed image) at the moving image's maximum.
    ``warped_labels``: the moving image's labels through the whole transform
    (nearest neighbour) on the fixed grid, when it had labels.
    """

    warped: Volume
    gridded: Volume
    jacobian: Volume
    displacement: Volume
    folding: Folding
    transform: sitk.Transform
    warped_labels: LabelMap | None

    def describe(self) -> str:
        f = self.folding
        return (f"folding: {f.folded} of {f.voxels} voxels with Jacobian determinant <= 0 "
                f"(determinant {f.min_determinant:.2f} to {f.max_determinant:.2f}); "
                f"displacement up to {float(np.max(self.displacement.array)):.1f} mm")


def deformation_views(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume,
                      transform: sitk.Transform, labels: LabelMap | None) -> DeformationViews:
    """The job: resample the moving volume (and its ``labels``, nearest) through a deformable ``transform`` and
    compute its maps and grid."""
    import SimpleITK as sitk  # deferred: faster start-up

    from registration.deformation import (
        displacement_magnitude,
        folding,
        jacobian_determinant,
        reference_grid,
        warped_grid,
    )
    from registration.resample import resample_to
    progress(0.0, "resampling through the deformable transform")
    warped = resample_to(fixed, moving, transform, cancel=cancel)
    warped_labels = None
    if labels is not None:
        warped_labels = LabelMap(resample_to(fixed, labels.volume, transform, interpolator=sitk.sitkNearestNeighbor,
                                             default_value=0, cancel=cancel), labels.segments)
    progress(0.4, "Jacobian determinant")
    maps = reference_grid(fixed, MAP_SPACING_MM)
    jacobian = jacobian_determinant(transform, maps)
    check_cancel(cancel)
    progress(0.6, "displacement")
    displacement = displacement_magnitude(transform, maps)
    check_cancel(cancel)
    progress(0.8, "warped grid")
    lines = warped_grid(transform, maps, GRID_LINE_SPACING_MM)
    on_line = resample_to(fixed, lines, interpolator=sitk.sitkNearestNeighbor, default_value=0).array.astype(bool)
    gridded = replace(warped, array=np.where(on_line, np.max(moving.array), warped.array).astype(warped.array.dtype))
    progress(1.0, "deformation shown")
    return DeformationViews(warped, gridded, jacobian, displacement, folding(jacobian), transform, warped_labels)
