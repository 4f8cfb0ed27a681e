"""Registration in the window: runs as a background job, the moving image moves in the views while it works.

The controller wires the registration panel, the viewer model's fused and
landmarks layers (drawn by ``widgets.fusion_layer.ViewerFusion``) and the job
runner to the Qt-free jobs of ``workstation.registration_jobs``:

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
  folder (``workstation.registration_history``); any entry can be shown
  again or run again.
- A deformable result is shown through its whole transform: a job
  (``deformation_views``) resamples the moving volume onto the fixed grid and
  computes its Jacobian-determinant and displacement maps and warped grid;
  the fused layer then holds that resampled volume with an identity matrix,
  or one of the maps as a colour overlay on the fixed image (the fused
  layer's own drawing, in overlay mode, through the map's colour map and
  window). Exports then write that whole transform (ITK .tfm/.h5) and
  resample through it. Any change of the transform (a nudge, Revert,
  another run) goes back to the linear display.
- Exports: the transform (.tfm/.h5/.json), the moving volume resampled onto
  the fixed grid as an image file (``workstation.image_io``'s one writer),
  or as a DICOM series with a new Series Instance UID in the fixed image's
  frame of reference.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from registration.parameters import RegistrationParameters, list_presets, load_preset
from widgets.fusion_layer import ViewerFusion
from widgets.registration_panel import RegistrationPanel
from widgets.viewer import Viewer
from workstation.app.job_runner import JobHandle, JobRunner
from workstation.app.segmentation_controller import opened_line
from workstation.dicom.label_objects import object_kind, read_label_object
from workstation.errors import Cancelled, RegistrationError, WorkstationError
from workstation.image_io import READ_SUFFIXES
from workstation.jobs import CancelFlag, Job, Progress
from workstation.labels import LabelMap
from workstation.opening import open_labels
from workstation.registration_history import (
    describe_matrix,
    history_label,
    history_path,
    load_history,
    load_mask,
    now,
    pair_id,
    save_history,
    save_mask,
)
from workstation.registration_jobs import (
    LIVE_INTERVAL_S,
    DeformationViews,
    LiveBatch,
    RunRequest,
    deformation_views,
    run_registration,
    write_resampled_dicom,
    write_resampled_image,
)
from workstation.viewer_model import FusedLayer, LabelsLayer, LandmarksLayer
from workstation.viewer_model.display import Window
from workstation.viewer_model.layers import FusionSettings, auto_window
from workstation.volume import Volume

if TYPE_CHECKING:
    import SimpleITK as sitk

    from registration.runner import RegistrationResult
    from workstation.experiments.review import RunReview

log = logging.getLogger("workstation.app.registration")

DEFAULT_PRESET = "ct-mr-rigid"
LANDMARK_PRESET = "landmark-rigid"
RENDER_SHARE_INVERSE = 8.0
"""A live view update waits at least this many times the last update's render time: on a slow (software
OpenGL, busy) machine the views follow less often, and the event loop stays free for the user."""
MAP_COLORMAPS = {"jacobian": "Rainbow", "displacement": "Hot iron"}
"""Colour maps of the deformation overlays (``resources/presets/colormaps.json``)."""


def map_window(kind: str, values: np.ndarray) -> Window:
    """The overlay window of a map: a Jacobian determinant about 1 (no change), symmetric, so shrinking and growing
    show in opposite colours and a folded voxel (<= 0) still shows; a displacement from 0 (clear) to its maximum."""
    if kind == "jacobian":
        half = max(float(np.max(np.abs(values - 1.0))), 0.1) * 1.05
        return Window(1.0, 2.0 * half)
    top = max(float(np.max(values)), 1e-3)
    return Window(top / 2.0, top)


@dataclass
class OpenVolume:
    """A volume that can be registered, and a DICOM file of its series for exports (None if not from DICOM)."""

    key: str
    label: str
    volume: Volume
    reference: str | None = None


# -- the controller ------------------------------------------------------------------------------
class RegistrationController(QObject):
    """See the module docstring. ``show_fixed(key, volume)`` puts the fixed volume in the model's main slot.

    ``matrix`` is the candidate transform (what Accept keeps); the fused
    layer shows it, or, during a run, the optimiser's latest one.
    """

    runFinished = Signal(object)   # the history entry of the run
    runFailed = Signal(str)        # one line ("cancelled" for a cancel)
    transformChanged = Signal(object)
    exported = Signal(object)      # path(s) written
    deformationShown = Signal(object)  # the DeformationViews of a deformable result, now shown
    runReviewed = Signal(object)   # the RunReview now shown

    def __init__(self, viewer: Viewer, runner: JobRunner, panel: RegistrationPanel | None = None,
                 report: Callable[[str], None] | None = None,
                 show_fixed: Callable[[str, Volume], None] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.viewer, self.runner = viewer, runner
        self.model = viewer.model
        self.panel = panel or RegistrationPanel()
        self.fusion = ViewerFusion(viewer)
        self.report = report or (lambda line: log.info("%s", line))
        self.show_fixed = show_fixed or (lambda key, volume: self.model.set_image(volume, 0, source=key))
        self.volumes: dict[str, OpenVolume] = {}
        self.fixed: OpenVolume | None = None
        self.moving: OpenVolume | None = None
        self.matrix = np.eye(4)
        self.accepted = np.eye(4)
        # The fixed image's metric mask at the start of a run: (name, 0/1 Volume) or None; the segmentation sets it.
        self.fixed_mask_source: Callable[[], tuple[str, Volume] | None] = lambda: None
        self.history: list[dict[str, Any]] = []
        self.dock: QDockWidget | None = None  # set by ``install``
        self.job: JobHandle | None = None
        self.live_updates: list[float] = []  # monotonic times the views followed the optimiser
        self._before_run = np.eye(4)
        self.deformation: DeformationViews | None = None  # shown while the transform is a deformable result's
        self.deformation_job: JobHandle | None = None  # the deformation job whose result will be shown
        self._pending: np.ndarray | None = None
        self._live_timer = QTimer(self, singleShot=True)
        self._live_timer.timeout.connect(self._follow)
        self._wire()
        self.panel.set_presets(list_presets(), DEFAULT_PRESET)

    def _wire(self) -> None:
        p = self.panel
        p.pairChosen.connect(self.set_pair)
        p.fusionChanged.connect(self._fusion_settings)
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
        p.deformationViewChanged.connect(lambda *_: self.deformation is not None and self._show_fused())
        p.movingLabelsChanged.connect(self._show_moving_labels)
        self.fusion.nudged.connect(self.nudge)
        self.fusion.landmarkPicked.connect(self.place_landmark)

    @property
    def fused(self) -> FusedLayer | None:
        return self.model.slot().fused

    @property
    def landmarks(self) -> LandmarksLayer | None:
        return self.model.slot().landmarks

    def _fusion_settings(self, _settings: object) -> None:
        if self.fused is not None:
            self.fused.set_settings(self._settings())

    def _settings(self) -> FusionSettings:
        """The panel's fusion settings; a deformation map is always a colour overlay in its own map and window."""
        settings = self.panel.fusion_settings()
        kind, _grid = self.panel.deformation_view()
        if self.deformation is None:
            return settings
        if kind == "none":  # the resampled moving image keeps its own window, whatever the grid lines' value
            return settings.with_(moving_window=auto_window(self.moving.volume))
        values = (self.deformation.jacobian if kind == "jacobian" else self.deformation.displacement).array
        return settings.with_(mode="overlay", swap=False, moving_window=map_window(kind, values),
                              overlay_colormap=MAP_COLORMAPS[kind])

    def _show_fused(self) -> None:
        """Replace the fused layer: the moving volume through the linear matrix, or what a deformation shows."""
        views = self.deformation
        labels = self.fused.labels if self.fused is not None else None  # the moving labels stay (drawn if linear)
        if views is None:
            self.model.set_fused(FusedLayer(self.moving.volume, self.matrix, self._settings(), labels))
            return
        kind, grid = self.panel.deformation_view()
        volume = {"jacobian": views.jacobian, "displacement": views.displacement}.get(
            kind, views.gridded if grid else views.warped)
        deformed = self._moving_labels(views.warped_labels) if views.warped_labels is not None else None
        self.model.set_fused(FusedLayer(volume, np.eye(4), self._settings(), labels, deformed))

    def _forget_deformation(self) -> bool:
        """Drop the deformable display and any pending one (the transform changed); True if one was shown."""
        shown = self.deformation is not None
        if self.deformation_job is not None:
            self.deformation_job.cancel()
        self.deformation = self.deformation_job = None
        self.panel.set_deformation(None)
        return shown

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
        self._forget_deformation()
        self.fixed, self.moving = self.volumes[fixed_key], self.volumes[moving_key]
        if not self.model.showing(fixed_key):
            self.show_fixed(fixed_key, self.fixed.volume)
        try:
            self.history = load_history(self._history_path())
        except WorkstationError as exc:
            self.report(str(exc))
            self.history = []
        accepted = [e for e in self.history if e.get("accepted")]
        self.accepted = np.asarray(accepted[-1]["matrix_lps"]) if accepted else np.eye(4)
        self.model.set_fused(FusedLayer(self.moving.volume, self.accepted, self.panel.fusion_settings()))
        self.panel.set_has_moving_labels(False)
        self.model.set_landmarks(LandmarksLayer())
        self._show_landmark_counts()
        self.set_matrix(self.accepted)
        self.panel.choose(fixed_key, moving_key)
        self.panel.set_has_pair(True)
        self._show_history()

    def _moving_labels(self, labels: LabelMap) -> LabelsLayer:
        """A layer of the moving image's labels, shown as the panel says."""
        visible, opacity = self.panel.moving_labels_display()
        return LabelsLayer(labels, opacity, visible)

    def _show_moving_labels(self, visible: bool, opacity: float) -> None:
        """The panel's labels controls changed: the moving labels, and those resampled through a deformation."""
        if self.fused is None:
            return
        for layer in (self.fused.labels, self.fused.deformed_labels):
            if layer is not None:
                layer.set_visible(visible)
                layer.set_opacity(opacity)

    def open_moving_labels(self, path: str | Path) -> JobHandle | None:
        """The moving image's labels (a label map file on its grid, or a DICOM SEG or RTSTRUCT of its series),
        drawn over the fused views through the shown transform; a job.

        Over a deformable result they are resampled through its whole transform (the deformation is shown again).
        """
        moving = self.moving
        if moving is None or self.fused is None:
            self.report("moving labels: choose the registration pair first")
            return None
        source = str(path)

        def read(progress: Progress, cancel: CancelFlag | None) -> list[LabelMap]:
            if object_kind(source) is not None:
                return read_label_object(source, moving.volume)
            return [open_labels(progress, cancel, source, moving.volume)]

        def opened(maps: list[LabelMap]) -> None:
            if self.moving is not moving or self.fused is None:
                return
            self.fused.set_labels(self._moving_labels(maps[0]))
            self.panel.set_has_moving_labels(True)
            if self.deformation is not None:
                self.show_deformation(self.deformation.transform)
            self.report(opened_line(maps, source, subject="moving labels"))

        return self.runner.submit(Job(read), "moving labels", on_result=opened,
                                  on_error=lambda error: self.report(f"moving labels: {error}"))

    def review_run(self, review: RunReview) -> None:
        """Show a run of ``workstation experiment run``: its fixed image, the moving one fused through the run's
        transform with its label map, both sets of landmarks (with their errors in the status line) and its metric
        history."""
        name = review.folder.name
        fixed_key, moving_key = f"{review.folder}#fixed", f"{review.folder}#moving"
        self.add_volume(fixed_key, f"{review.title}: fixed", review.fixed)
        self.add_volume(moving_key, f"{review.title}: moving", review.moving)
        self.set_pair(fixed_key, moving_key)
        self.set_matrix(review.matrix)
        if review.moving_labels is not None:
            self.fused.set_labels(self._moving_labels(review.moving_labels))
            self.panel.set_has_moving_labels(True)
        for note in review.notes:
            self.report(f"run {name}: {note}")
        if review.fixed_points is not None:
            self.model.set_landmarks(LandmarksLayer(review.fixed_points, review.moving_points))
            self._show_landmark_counts()
            errors = self.landmarks.errors(review.matrix)
            self.panel.set_status(f"run {name}: landmark error mean {errors.mean():.2f} mm, max {errors.max():.2f} mm "
                                  f"({len(errors)} landmarks)")
        self.panel.plot.clear()
        for level, values in review.history.groupby("level", sort=True)["value"]:
            self.panel.plot.add(f"level {level}", [float(v) for v in values])
        if self.dock is not None:
            self.dock.show()
        self.report(f"reviewing run {name} ({review.title})")
        self.runReviewed.emit(review)

    def clear_pair(self) -> None:
        """Stop fusing (the main view now shows another series)."""
        if self.fused is not None:
            self.model.set_fused(None)
            self.panel.set_has_moving_labels(False)
            self.model.set_landmarks(None)
        self.fixed = self.moving = None
        self._forget_deformation()
        self.panel.set_has_pair(False)

    def main_volume_changed(self) -> None:
        if self.fixed is not None and not self.model.showing(self.fixed.key):
            self.clear_pair()

    def _history_path(self) -> Path:
        return history_path(pair_id(self.fixed.volume, self.moving.volume, self.fixed.key, self.moving.key))

    # -- the shown transform -------------------------------------------------------------------------
    def set_matrix(self, matrix: np.ndarray) -> None:
        self.matrix = np.array(matrix, dtype=np.float64)
        if self._forget_deformation():
            self._show_fused()
        elif self.fused is not None:
            self.fused.set_matrix(self.matrix)
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
            entry = {"kind": "manual", "created": now(), "matrix_lps": self.matrix.tolist(),
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

    def run(self, request: RunRequest, replay: bool = False) -> JobHandle | None:
        """Start a run in the background; the views follow it; the result lands in the history.

        A new run takes the fixed mask the segment editor offers; a ``replay``
        takes the mask its history entry kept (or none if it had none).
        """
        if self.fixed is None or self.moving is None or self.running:
            return None
        if replay and request.fixed_mask_file:
            try:
                mask: tuple[str, Volume] | None = (request.fixed_mask_name,
                                                   load_mask(self._history_path(), request.fixed_mask_file))
            except WorkstationError as exc:
                self.panel.set_status(str(exc))
                self.report(str(exc))
                return None
        else:
            mask = None if replay else self.fixed_mask_source()
        if mask is not None:
            name, volume = mask
            fixed = self.fixed.volume
            if volume.array.shape != fixed.array.shape[-3:] or not np.allclose(volume.affine, fixed.affine, atol=1e-4):
                self.panel.set_status(f"the mask {name} is not on the fixed image's grid: no run")
                return None
            request = replace(request, fixed_mask=volume, fixed_mask_name=name)
        if self._forget_deformation():  # the views follow the optimiser's linear matrices, not a deformation
            self._show_fused()
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
        if self.job is None or self._pending is None or self.fused is None:
            return
        self.fused.set_matrix(self._pending, live=True)
        self._pending = None
        self.live_updates.append(time.monotonic())

    def _finished(self, result: RegistrationResult, request: RunRequest) -> None:
        from registration.transforms import is_linear  # deferred: faster start-up
        self.job = None
        self._live_timer.stop()
        self.panel.set_running(False)
        request.threads = result.threads  # a replay needs the same thread count
        if request.fixed_mask is not None and not request.fixed_mask_file:  # and the same mask
            try:
                request.fixed_mask_file = save_mask(self._history_path(), request.fixed_mask)
            except WorkstationError as exc:
                self.report(f"registration: the mask is not kept, a replay will run without it ({exc})")
        entry = {**result.to_dict(), "kind": "run", "created": now(), "request": request.to_dict(),
                 "accepted": False}
        self.history.append(entry)
        self._save_history()
        self.set_matrix(result.matrix_lps)
        self.panel.set_progress(1.0, result.summary())  # says so when the start was kept
        if not is_linear(result.transform):
            self.show_deformation(result.transform)
        self.runFinished.emit(entry)

    def show_deformation(self, transform: sitk.Transform) -> JobHandle | None:
        """Show the moving image through a deformable ``transform`` (fixed -> moving), its maps and grid (a job).

        The shown matrix stays what it is (the result's linear part, what
        Accept and the history keep); a change of it before the job ends
        cancels the job.
        """
        if self.fixed is None or self.moving is None:
            return None
        if self._forget_deformation():
            self._show_fused()

        def done(views: DeformationViews) -> None:
            if handle is not self.deformation_job:
                return
            self.deformation, self.deformation_job = views, None
            self.panel.set_deformation(views.describe())
            self._show_fused()
            self.deformationShown.emit(views)

        def failed(error: BaseException) -> None:
            if handle is self.deformation_job:
                self.deformation_job = None
                self.panel.set_status(f"deformation: {error}")

        labels = self.fused.labels.labels if self.fused is not None and self.fused.labels is not None else None
        job = Job(deformation_views, self.fixed.volume, self.moving.volume, transform, labels)
        handle = self.deformation_job = self.runner.submit(job, "deformation", on_result=done, on_error=failed,
                                                           on_progress=self.panel.set_progress)
        return handle

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
        return self.run(RunRequest.from_dict(entry["request"]), replay=True)

    # -- landmarks -----------------------------------------------------------------------------------------
    def place_landmark(self, point: np.ndarray) -> None:
        if self.landmarks is not None:
            self.landmarks.place(point, self.matrix)
            self._show_landmark_counts()

    def clear_landmarks(self) -> None:
        if self.landmarks is not None:
            self.landmarks.clear()
            self._show_landmark_counts()

    def _show_landmark_counts(self) -> None:
        self.panel.set_landmark_counts(len(self.landmarks.fixed), len(self.landmarks.moving))

    def fit_landmarks(self) -> JobHandle | None:
        if self.landmarks is None:
            return None
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

    def _shown_transform(self) -> np.ndarray | sitk.Transform:
        """What the views show: a deformable result's whole transform, or the matrix."""
        return self.deformation.transform if self.deformation is not None else self.matrix.copy()

    def export_transform(self, path: str | os.PathLike[str]) -> Path | None:
        """The shown transform as .tfm/.h5 (ITK; a deformable one whole) or .json (LPS and RAS matrices of a linear
        one), fixed -> moving."""
        from registration.transforms import transform_from_matrix, write_transform  # deferred: faster start-up
        shown = self._shown_transform()
        if isinstance(shown, np.ndarray):
            shown = transform_from_matrix(shown, self.fixed.volume.center())
        try:
            out = write_transform(shown, path)
        except WorkstationError as exc:
            self.report(str(exc))
            return None
        self.report(f"transform written to {out}")
        self.exported.emit(out)
        return out

    def export_nifti(self, path: str | os.PathLike[str]) -> JobHandle:
        """The moving volume on the fixed grid as .nii/.nii.gz (or .nrrd/.mha: the name's extension decides)."""
        job = Job(write_resampled_image, self.fixed.volume, self.moving.volume, self._shown_transform(), str(path))
        return self._export_job(job, "image export")

    def export_dicom(self, out_dir: str | os.PathLike[str]) -> JobHandle:
        job = Job(write_resampled_dicom, self.fixed.volume, self.moving.volume, self._shown_transform(),
                  str(out_dir), self.fixed.reference)
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
    def ask_moving_labels() -> None:
        patterns = " ".join(f"*{suffix}" for suffix in READ_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(window, "Open labels on the moving image", "",
                                              f"Label maps, DICOM SEG or RTSTRUCT ({patterns} *.dcm);;All files (*)")
        if path:
            controller.open_moving_labels(path)

    for menu_action in window.menuBar().actions():
        if menu_action.text().replace("&", "") == "View":
            menu_action.menu().addAction(dock.toggleViewAction())
        if menu_action.text().replace("&", "") == "File":
            actions = menu_action.menu().actions()  # after "Open labels on the image...", its fixed-side peer
            at = next((n for n, a in enumerate(actions) if a.text().replace("&", "") == "Open labels on the image..."),
                      len(actions) - 1)
            moving = QAction("Open labels on the &moving image...", window)
            moving.triggered.connect(ask_moving_labels)
            menu_action.menu().insertAction(actions[at + 1] if at + 1 < len(actions) else None, moving)
    return controller
