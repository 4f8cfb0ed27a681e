"""Registration in the window: runs as a background job, the moving image moves in the views while it works.

The controller wires the registration panel, the fusion in the viewer and the
job runner to ``registration.runner.register``:

- A run is a ``Job`` on a worker thread (SimpleITK's optimiser releases the
  GIL, so the GUI thread stays free). Its iteration events are batched on the
  worker and posted at most ``LIVE_INTERVAL_S`` apart: each batch extends the
  metric plot and moves the fused moving image to the latest transform by a
  4x4 update of the reslice transform (no resampling), so the views follow
  the optimiser at no more than five updates a second.
- Cancel stops the run within the runner's one second; a cancelled or failed
  run leaves the transform as it was before the run.
- The shown transform is a candidate until accepted; Revert goes back to the
  last accepted one. Nudges (keys, mouse) adjust the shown transform.
- Every run goes into a history persisted per image pair in the user data
  folder as JSON (``RegistrationResult.to_dict()`` plus the request that
  replays it); any entry can be shown again or run again.
- Exports: the transform (.tfm/.h5/.json), the moving volume resampled onto
  the fixed grid as NIfTI, or as a DICOM series with a new Series Instance
  UID in the fixed image's frame of reference.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QDockWidget, QScrollArea

from registration.parameters import RegistrationParameters, list_presets, load_preset
from registration.resample import resample_to
from registration.runner import IterationEvent, RegistrationResult, register
from registration.transforms import transform_from_matrix, write_transform
from widgets.fusion_layer import ViewerFusion
from widgets.landmarks import LandmarkPairs
from widgets.registration_panel import RegistrationPanel
from widgets.viewer import Viewer
from workstation.app.job_runner import JobHandle, JobRunner
from workstation.atomic import atomic_output
from workstation.dicom.export import export_dicom_series
from workstation.errors import Cancelled, ExportError, RegistrationError, WorkstationError, last_line
from workstation.jobs import CancelFlag, Job, Progress, check_cancel
from workstation.paths import data_dir
from workstation.volume import Volume

log = logging.getLogger("workstation.app.registration")

DEFAULT_PRESET = "ct-mr-rigid"
LANDMARK_PRESET = "landmark-rigid"
LIVE_INTERVAL_S = 0.2
"""Worker-side batching of iteration events, and the shortest time between two view updates (five a second)."""
RENDER_SHARE_INVERSE = 8.0
"""A live view update waits at least this many times the last update's render time: on a slow (software
OpenGL, busy) machine the views follow less often, and the event loop stays free for the user."""
SEARCH_SHARE = 0.3
"""Share of the progress bar given to the orientation search, whose length is not known in advance."""
WORKER_NICENESS = 10
HISTORY_FORMAT = "workstation-registration-history/1"


# -- what a run needs, and what the worker sends back ---------------------------------------------
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

    def to_dict(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a).tolist()

        return {"parameters": self.params.to_dict(), "init": self.init, "seed": self.seed, "threads": self.threads,
                "initial_matrix_lps": listed(self.initial), "fixed_landmarks": listed(self.fixed_landmarks),
                "moving_landmarks": listed(self.moving_landmarks)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRequest:
        def array(key: str) -> np.ndarray | None:
            return None if data.get(key) is None else np.asarray(data[key], dtype=np.float64)

        return cls(RegistrationParameters.from_dict(data["parameters"]), data.get("init", "auto"),
                   int(data.get("seed", 0)), data.get("threads"), array("initial_matrix_lps"),
                   array("fixed_landmarks"), array("moving_landmarks"))


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
    lower_thread_priority()
    batcher = EventBatcher(post, progress, [level.iterations for level in request.params.levels])
    result = register(fixed, moving, request.params, init=request.init, seed=request.seed, threads=request.threads,
                      on_iteration=batcher, cancel=cancel, initial_transform=request.initial,
                      fixed_landmarks=request.fixed_landmarks, moving_landmarks=request.moving_landmarks)
    batcher.flush()
    progress(1.0, "registration done")
    return result


def write_resampled_nifti(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume, matrix: np.ndarray,
                          path: str) -> Path:
    """The job: the moving volume on the fixed grid through ``matrix``, written as NIfTI (never a half file)."""
    out = Path(path)
    if not out.name.endswith((".nii", ".nii.gz")):
        raise ExportError("a NIfTI file name ends in .nii or .nii.gz", out)
    progress(0.1, "resampling")
    resampled = resample_to(fixed, moving, matrix)
    check_cancel(cancel)
    progress(0.6, "writing NIfTI")
    with atomic_output(out, "NIfTI") as tmp:
        try:
            sitk.WriteImage(resampled.to_sitk(), str(tmp))
        except RuntimeError as exc:
            raise ExportError(f"cannot write NIfTI ({last_line(exc)})", out) from exc
        check_cancel(cancel)
    progress(1.0, "NIfTI written")
    return out


def write_resampled_dicom(progress: Progress, cancel: CancelFlag, fixed: Volume, moving: Volume, matrix: np.ndarray,
                          out_dir: str, reference: str | None) -> list[Path]:
    """The job: the moving volume on the fixed grid as a new DICOM series in the fixed frame of reference."""
    if reference is None:
        raise ExportError("the fixed volume has no DICOM header to take patient and study from", out_dir)
    resampled = resample_to(fixed, moving, matrix)
    check_cancel(cancel)
    describe = lambda v: v.meta.description or v.meta.modality or "series"
    description = f"{describe(moving)} registered to {describe(fixed)}"[:64]
    return export_dicom_series(resampled, out_dir, reference, description, fixed.meta.frame_of_reference_uid,
                               progress=progress, cancel=cancel)


# -- history ------------------------------------------------------------------------------------
def pair_id(fixed: Volume, moving: Volume, fixed_key: str, moving_key: str) -> str:
    """A file name for a pair: a hash of the two series UIDs (never patient data)."""
    text = f"{fixed.meta.series_uid or fixed_key}|{moving.meta.series_uid or moving_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def history_path(pair: str) -> Path:
    return data_dir() / "registrations" / f"{pair}.json"


def load_history(path: Path) -> list[dict[str, Any]]:
    """The stored runs of a pair; a missing file is an empty history, a damaged one an error naming it."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != HISTORY_FORMAT or not isinstance(data.get("runs"), list):
            raise ValueError("not a registration history")
        return data["runs"]
    except (OSError, ValueError, AttributeError) as exc:
        raise WorkstationError(f"registration history unreadable ({exc})", path) from exc


def save_history(path: Path, runs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": HISTORY_FORMAT, "runs": runs}, indent=1)
    with atomic_output(path, "registration history") as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def describe_matrix(matrix: np.ndarray) -> str:
    """'shift 4.0 mm, turn 7.1 deg': how far a fixed->moving matrix is from identity, for a label."""
    m = np.asarray(matrix)
    angle = math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(m[:3, :3]) - 1) / 2))))
    shift = m[:3, 3]
    return f"shift ({shift[0]:.1f}, {shift[1]:.1f}, {shift[2]:.1f}) mm, turn {angle:.1f} deg"


def history_label(entry: dict[str, Any]) -> str:
    when = entry.get("created", "")[11:19]
    mark = " (accepted)" if entry.get("accepted") else ""
    if entry.get("kind") == "manual":
        return f"{when} manual: {describe_matrix(np.asarray(entry['matrix_lps']))}{mark}"
    return (f"{when} {entry['parameters']['name']}: metric {entry['metric']:.4f}, {entry['seconds']:.1f} s, "
            f"{entry['init']}{mark}")


@dataclass
class OpenVolume:
    """A volume that can be registered, and a DICOM file of its series for exports (None if not from DICOM)."""

    key: str
    label: str
    volume: Volume
    reference: str | None = None


# -- the controller ------------------------------------------------------------------------------
class RegistrationController(QObject):
    """See the module docstring. ``show_fixed(key, volume)`` puts the fixed volume in the viewer's main slot."""

    runFinished = Signal(object)   # the history entry of the run
    runFailed = Signal(str)        # one line ("cancelled" for a cancel)
    transformChanged = Signal(object)
    exported = Signal(object)      # path(s) written

    def __init__(self, viewer: Viewer, runner: JobRunner, panel: RegistrationPanel | None = None,
                 report: Callable[[str], None] | None = None,
                 show_fixed: Callable[[str, Volume], None] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer, self.runner = viewer, runner
        self.panel = panel or RegistrationPanel()
        self.fusion = ViewerFusion(viewer)
        self.report = report or (lambda line: log.info("%s", line))
        self.show_fixed = show_fixed or (lambda _key, volume: viewer.set_volume(volume, 0))
        self.volumes: dict[str, OpenVolume] = {}
        self.fixed: OpenVolume | None = None
        self.moving: OpenVolume | None = None
        self.matrix = np.eye(4)
        self.accepted = np.eye(4)
        self.history: list[dict[str, Any]] = []
        self.landmarks = LandmarkPairs()
        self.job: JobHandle | None = None
        self.live_updates: list[float] = []  # monotonic times the views followed the optimiser
        self._before_run = np.eye(4)
        self._pending: np.ndarray | None = None
        self._live_timer = QTimer(self, singleShot=True)
        self._live_timer.timeout.connect(self._follow)
        self._wire()
        self.panel.set_presets(list_presets(), DEFAULT_PRESET)

    def _wire(self) -> None:
        p = self.panel
        p.pairChosen.connect(self.set_pair)
        p.fusionChanged.connect(self.fusion.set_settings)
        p.presetChosen.connect(lambda name: p.set_parameters_text(load_preset(name).to_json()))
        p.runRequested.connect(self._run_from_panel)
        p.cancelRequested.connect(self.cancel)
        p.acceptRequested.connect(self.accept)
        p.revertRequested.connect(self.revert)
        p.resetRequested.connect(lambda: self.set_matrix(np.eye(4)))
        p.historyApplyRequested.connect(self.apply_history)
        p.historyRerunRequested.connect(self.rerun_history)
        p.landmarkModeToggled.connect(self.fusion.set_landmark_mode)
        p.landmarksCleared.connect(self.clear_landmarks)
        p.landmarkFitRequested.connect(self.fit_landmarks)
        p.exportRequested.connect(self.export)
        self.fusion.nudged.connect(self.nudge)
        self.fusion.landmarkPicked.connect(self.place_landmark)

    # -- volumes and the pair ----------------------------------------------------------------------
    def add_volume(self, key: str, label: str, volume: Volume, reference: str | None = None) -> None:
        """Offer a (3D) volume for registration; adding a key again replaces it."""
        if volume.array.ndim != 3:
            return
        self.volumes[key] = OpenVolume(key, label, volume, reference)
        self.panel.set_volumes([(v.key, v.label) for v in self.volumes.values()])

    def set_pair(self, fixed_key: str, moving_key: str) -> None:
        """Show the fixed volume with the moving one fused over it, through the pair's last accepted transform."""
        if fixed_key == moving_key:
            self.report("registration: choose two different volumes")
            return
        self.fixed, self.moving = self.volumes[fixed_key], self.volumes[moving_key]
        if self.viewer.volume() is not self.fixed.volume:
            self.show_fixed(fixed_key, self.fixed.volume)
        try:
            self.history = load_history(self._history_path())
        except WorkstationError as exc:
            self.report(str(exc))
            self.history = []
        accepted = [e for e in self.history if e.get("accepted")]
        self.accepted = np.asarray(accepted[-1]["matrix_lps"]) if accepted else np.eye(4)
        self.landmarks.clear()
        self.fusion.set_moving(self.moving.volume)
        self.fusion.set_settings(self.panel.fusion_settings())
        self.set_matrix(self.accepted)
        self.panel.choose(fixed_key, moving_key)
        self.panel.set_has_pair(True)
        self._show_history()

    def clear_pair(self) -> None:
        """Stop fusing (the main view now shows another series)."""
        self.fusion.set_moving(None)
        self.fixed = self.moving = None
        self.panel.set_has_pair(False)

    def main_volume_changed(self) -> None:
        if self.fixed is not None and self.viewer.volume() is not self.fixed.volume:
            self.clear_pair()

    def _history_path(self) -> Path:
        return history_path(pair_id(self.fixed.volume, self.moving.volume, self.fixed.key, self.moving.key))

    # -- the shown transform -------------------------------------------------------------------------
    def set_matrix(self, matrix: np.ndarray) -> None:
        self.matrix = np.array(matrix, dtype=np.float64)
        self.fusion.set_matrix(self.matrix)
        self._show_landmarks()
        self.panel.set_transform_text(describe_matrix(self.matrix))
        self.transformChanged.emit(self.matrix)

    def nudge(self, motion: np.ndarray) -> None:
        """The shown moving image moved by ``motion`` (fixed space): the transform reads it from there."""
        if self.running:
            return
        self.set_matrix(self.matrix @ np.linalg.inv(motion))

    def accept(self) -> None:
        """Keep the shown transform; a manual one goes into the history."""
        entry = next((e for e in reversed(self.history) if np.allclose(e["matrix_lps"], self.matrix)), None)
        if entry is None:
            entry = {"kind": "manual", "created": _now(), "matrix_lps": self.matrix.tolist(),
                     "maps": "fixed-space points to moving-space points"}
            self.history.append(entry)
        for e in self.history:
            e["accepted"] = e is entry
        self.accepted = self.matrix.copy()
        self._save_history()

    def revert(self) -> None:
        self.set_matrix(self.accepted)

    # -- runs ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def _run_from_panel(self, parameters_json: str, init: str, seed: int) -> None:
        try:
            params = RegistrationParameters.from_json(parameters_json)
        except RegistrationError as exc:
            self.panel.set_status(str(exc))
            return
        initial = self.matrix.copy() if init == "current" else None
        self.run(RunRequest(params, "manual" if init == "current" else init, seed, initial=initial))

    def run(self, request: RunRequest) -> JobHandle | None:
        """Start a run in the background; the views follow it; the result lands in the history."""
        if self.fixed is None or self.moving is None or self.running:
            return None
        self._before_run = self.matrix.copy()
        self.live_updates = []
        self.panel.plot.clear()
        self.panel.set_running(True)
        self.panel.set_progress(0.0, f"{request.params.name}: starting")
        job = Job(run_registration, self.fixed.volume, self.moving.volume, request)
        self.job = self.runner.submit(job, "register", on_result=lambda r: self._finished(r, request),
                                      on_error=self._failed, on_progress=self.panel.set_progress,
                                      on_event=self._live, event_kwarg="post")
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _live(self, batch: object) -> None:
        if not isinstance(batch, LiveBatch) or self.job is None:
            return
        run: list[float] = []
        for n, (series, value) in enumerate(batch.points):
            run.append(value)
            if n + 1 == len(batch.points) or batch.points[n + 1][0] != series:
                self.panel.plot.add(series, run)
                run = []
        self._pending = batch.matrix
        if not self._live_timer.isActive():
            self._live_timer.start(self._live_delay_ms())

    def _live_delay_ms(self) -> int:
        """Until the next view update: at least LIVE_INTERVAL_S, and GUI renders at most an eighth of the time."""
        since = time.monotonic() - (self.live_updates[-1] if self.live_updates else 0.0)
        wait = max(LIVE_INTERVAL_S, RENDER_SHARE_INVERSE * self.fusion.last_render_seconds) - since
        return max(0, int(wait * 1000))

    def _follow(self) -> None:
        """Move the fused moving image to the optimiser's latest transform (a 4x4 update, no resampling)."""
        if self.job is None or self._pending is None:
            return
        self.fusion.set_matrix(self._pending, spread=True)
        self._pending = None
        self.live_updates.append(time.monotonic())

    def _finished(self, result: RegistrationResult, request: RunRequest) -> None:
        self.job = None
        self._live_timer.stop()
        self.panel.set_running(False)
        request.threads = result.threads  # a replay needs the same thread count
        entry = {**result.to_dict(), "kind": "run", "created": _now(), "request": request.to_dict(),
                 "accepted": False}
        self.history.append(entry)
        self._save_history()
        self.set_matrix(result.matrix_lps)
        self.panel.set_progress(1.0, result.summary())  # says so when the start was kept
        self.runFinished.emit(entry)

    def _failed(self, error: BaseException) -> None:
        self.job = None
        self._live_timer.stop()
        self.panel.set_running(False)
        self.set_matrix(self._before_run)
        line = "cancelled" if isinstance(error, Cancelled) else str(error)
        self.panel.set_progress(0.0, f"registration {line}")
        self.report(f"registration: {line}")
        self.runFailed.emit(line)

    # -- history -------------------------------------------------------------------------------------------
    def _show_history(self) -> None:
        self.panel.set_history([history_label(e) for e in self.history])

    def _save_history(self) -> None:
        self._show_history()
        try:
            save_history(self._history_path(), self.history)
        except WorkstationError as exc:
            self.report(str(exc))

    def apply_history(self, n: int) -> None:
        self.set_matrix(np.asarray(self.history[n]["matrix_lps"]))

    def rerun_history(self, n: int) -> JobHandle | None:
        """Run an entry again with its own parameters, start, seed and threads (a replay)."""
        entry = self.history[n]
        if "request" not in entry:
            self.report("registration: a manual transform has no run to repeat")
            return None
        return self.run(RunRequest.from_dict(entry["request"]))

    # -- landmarks -----------------------------------------------------------------------------------------
    def place_landmark(self, point: np.ndarray) -> None:
        self.landmarks.place(point, self.matrix)
        self._show_landmarks()

    def clear_landmarks(self) -> None:
        self.landmarks.clear()
        self._show_landmarks()

    def _show_landmarks(self) -> None:
        self.fusion.set_landmarks(np.array(self.landmarks.fixed).reshape(-1, 3),
                                  self.landmarks.moving_in_fixed(self.matrix))
        self.panel.set_landmark_counts(len(self.landmarks.fixed), len(self.landmarks.moving))

    def fit_landmarks(self) -> JobHandle | None:
        fixed, moving = self.landmarks.pairs()
        if len(fixed) < 3:
            self.panel.set_status("landmark-rigid needs at least 3 pairs of landmarks")
            return None
        return self.run(RunRequest(load_preset(LANDMARK_PRESET), fixed_landmarks=fixed, moving_landmarks=moving))

    # -- exports -----------------------------------------------------------------------------------------------
    def export(self, kind: str, path: str) -> JobHandle | Path | None:
        if kind == "transform":
            return self.export_transform(path)
        if kind == "nifti":
            return self.export_nifti(path)
        return self.export_dicom(path)

    def export_transform(self, path: str | os.PathLike[str]) -> Path | None:
        """The shown transform as .tfm/.h5 (ITK) or .json (LPS and RAS matrices), fixed -> moving."""
        try:
            out = write_transform(transform_from_matrix(self.matrix, self.fixed.volume.center()), path)
        except WorkstationError as exc:
            self.report(str(exc))
            return None
        self.report(f"transform written to {out}")
        self.exported.emit(out)
        return out

    def export_nifti(self, path: str | os.PathLike[str]) -> JobHandle:
        job = Job(write_resampled_nifti, self.fixed.volume, self.moving.volume, self.matrix.copy(), str(path))
        return self._export_job(job, "NIfTI export")

    def export_dicom(self, out_dir: str | os.PathLike[str]) -> JobHandle:
        job = Job(write_resampled_dicom, self.fixed.volume, self.moving.volume, self.matrix.copy(), str(out_dir),
                  self.fixed.reference)
        return self._export_job(job, "DICOM export")

    def _export_job(self, job: Job, what: str) -> JobHandle:
        def done(out: object) -> None:
            self.panel.set_progress(1.0, f"{what} done")
            self.report(f"{what}: written to {out if isinstance(out, Path) else Path(out[0]).parent}")
            self.exported.emit(out)

        def failed(error: BaseException) -> None:
            self.panel.set_progress(0.0, f"{what}: {'cancelled' if isinstance(error, Cancelled) else error}")
            self.report(f"{what}: {error}")

        return self.runner.submit(job, "export", on_result=done, on_error=failed, on_progress=self.panel.set_progress)


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def install(window: Any) -> RegistrationController:
    """Add the registration dock to the main window: volumes it loads become choices, the View menu shows it.

    A surgical hook: the main window calls this once; everything else stays here.
    """
    panel = RegistrationPanel()
    scroll = QScrollArea()
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    dock = QDockWidget("Registration", window)
    dock.setObjectName("dock-Registration")
    dock.setWidget(scroll)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()
    controller = RegistrationController(window.viewer, window.runner, panel,
                                        report=lambda line: window.messages.add(line, logging.INFO),
                                        show_fixed=window._show_volume, parent=window)
    controller.dock = dock

    def loaded(key: str) -> None:
        entry = window.catalog[key] if key in window.catalog else None
        volume = window.volume if window.current_key == key else None
        if volume is not None:
            label = " ".join(x for x in (volume.meta.modality, volume.meta.description or key[-12:]) if x)
            controller.add_volume(key, label, volume, entry.files[0] if entry and entry.files else None)

    window.volumeLoaded.connect(loaded)
    window.firstSliceShown.connect(lambda _key: controller.main_volume_changed())
    for menu_action in window.menuBar().actions():
        if menu_action.text().replace("&", "") == "View":
            menu_action.menu().addAction(dock.toggleViewAction())
    return controller
