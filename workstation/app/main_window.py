"""The main window: browser, viewer, tag inspector and message log, wired to background jobs.

It only wires: the catalog, the loader, the measurement store and the
exports are plain modules; what is shown is the viewer model
(``self.viewer.model``, ``workstation.viewer_model``), which the window and
its controllers change and ``widgets.viewer.Viewer`` draws. Every
long step is a job on the ``JobRunner``; the status bar shows its progress
and a Cancel button. Errors become one line in the message log, never a
traceback on screen. Closing the window cancels and joins every job first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPainter,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QWidget,
)

from widgets.library_browser import LibraryBrowser
from widgets.tag_inspector import TagInspector
from widgets.viewer import Viewer
from widgets.vtk_bridge import to_qimage
from workstation.app.about import AboutDialog
from workstation.app.catalog import Catalog
from workstation.app.job_runner import JobHandle, JobRunner
from workstation.app.loading import FirstSlice, SliceDone, load_progressively
from workstation.app.messages import MessageLog, one_line
from workstation.app.pacs_controller import install_pacs
from workstation.app.registration_controller import install as install_registration
from workstation.app.segmentation_controller import install as install_segmentation
from workstation.app.settings import RecentItems, app_settings
from workstation.app.view_controls import install as install_view_controls
from workstation.dicom.library import Library
from workstation.dicom.measurement_store import MeasurementStore
from workstation.dicom.tags import file_tree
from workstation.dicom.thumbnails import series_thumbnail
from workstation.errors import Cancelled, WorkstationError
from workstation.image_io import READ_SUFFIXES, is_image_file, write_volume
from workstation.jobs import Job
from workstation.labels import LabelMap
from workstation.library_listing import Imported, import_and_list, library_plans
from workstation.measurement_export import record, write_csv
from workstation.measurements import Measurement
from workstation.opening import Opened, open_labels, open_path, open_volume
from workstation.viewer_model import LabelsLayer
from workstation.volume import Volume

log = logging.getLogger("workstation.app")

APP_TITLE = "Workstation"
LIBRARY_SOURCE = "library"
LAYOUTS = ("1x1", "1x3", "2x2")
REFRESH_MS = 150
TAGS_DELAY_MS = 150

VIEW_EXPORTS = {"layout": "&Layout (all views)", "axial": "&Axial", "coronal": "&Coronal",
                "sagittal": "&Sagittal", "3d": "&3D"}
"""What File > Export view as PNG offers: the viewer's layout or one of its views."""
IMAGE_FILTER = f"Images ({' '.join('*' + s for s in READ_SUFFIXES)});;All files (*)"


class MainWindow(QMainWindow):
    """One study-reading window."""

    volumeLoaded = Signal(str)  # key of the series whose volume finished loading
    firstSliceShown = Signal(str)  # key of the series whose first slice is on screen
    loadFailed = Signal(str)  # one-line message
    libraryListed = Signal()
    jobFailed = Signal(str)  # one-line message of any foreground job that failed or was cancelled

    def __init__(self, parent: QWidget | None = None, persist: bool = True) -> None:
        """``persist=False`` (screenshot runs) neither restores nor saves the window's layout."""
        super().__init__(parent)
        self.persist = persist
        self.settings = app_settings()
        self.recent = RecentItems(self.settings)
        self.runner = JobRunner(self)
        self.catalog = Catalog()
        self.library = Library()
        self.store = MeasurementStore()
        self._load: JobHandle | None = None
        self._foreground: list[JobHandle] = []
        self._thumbnail_queue: list[str] = []
        self._thumbnail_job: JobHandle | None = None
        self._restoring = False

        self.viewer = Viewer(self)
        self.model = self.viewer.model
        self.setCentralWidget(self.viewer)
        self.browser = LibraryBrowser()
        self.tags = TagInspector()
        self.messages = MessageLog()
        self.browser_dock = self._dock("Library", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tags_dock = self._dock("DICOM tags", self.tags, Qt.DockWidgetArea.RightDockWidgetArea)
        self.messages_dock = self._dock("Messages", self.messages, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([self.browser_dock, self.tags_dock], [400, 320], Qt.Orientation.Horizontal)
        self.resizeDocks([self.messages_dock], [80], Qt.Orientation.Vertical)
        self._build_status_bar()
        self._build_menus()
        self.registration = install_registration(self)
        self.view_controls = install_view_controls(self)
        self.pacs = install_pacs(self)
        self.segmentation = install_segmentation(self)

        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self._refresh_volume)
        self._tags_timer = QTimer(self, singleShot=True, interval=TAGS_DELAY_MS)
        self._tags_timer.timeout.connect(self._show_tags_at_position)
        self._position: np.ndarray | None = None

        self.browser.seriesActivated.connect(self.load_series)
        self.browser.seriesSelected.connect(self._show_series_tags)
        self.viewer.positionChanged.connect(self._position_changed)
        self.model.hide_identity_changed.connect(self._identity_switched)
        self.viewer.measurementsChanged.connect(self._save_measurements)
        self.messages.added.connect(lambda line: self.statusBar().showMessage(line, 8000))
        self.setAcceptDrops(True)
        self._restore_settings()
        self._update_title()

    # -- construction ------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_jobs)
        for widget in (self.progress_label, self.progress, self.cancel_button):
            self.statusBar().addPermanentWidget(widget)
            widget.hide()

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open folder (temporary)...", self._ask_open_folder, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &image file...", self._ask_open_image, "Ctrl+Shift+O")
        self._action(file_menu, "Open &labels on the image...", self._ask_open_labels)
        self._action(file_menu, "Open e&xperiment run...", self._ask_open_run)
        self._action(file_menu, "&Import folder into library...", self._ask_import_folder, "Ctrl+I")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._fill_recent_menu()
        file_menu.addSeparator()
        self._action(file_menu, "Export measurements as &CSV...", self._ask_export_csv)
        self._action(file_menu, "Export measurements as DICOM &SR...", self._ask_export_sr)
        self._action(file_menu, "Export &image as NIfTI, NRRD or MHA...", self._ask_export_image)
        self._action(file_menu, "Save &screenshot...", self._ask_screenshot, "Ctrl+Shift+S")
        png_menu = file_menu.addMenu("Export &view as PNG")
        for name, label in VIEW_EXPORTS.items():
            self._action(png_menu, label, lambda checked=False, n=name: self._ask_export_view(n))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        view_menu = bar.addMenu("&View")
        group = QActionGroup(self)
        self.layout_actions = {}
        for name in LAYOUTS:
            action = self._action(view_menu, f"Layout {name}", lambda _c=False, n=name: self.set_layout(n),
                                  checkable=True)
            group.addAction(action)
            self.layout_actions[name] = action
        view_menu.addSeparator()
        self.identity_action = self._action(view_menu, "&Hide patient identity", self.set_hide_identity, "Ctrl+H",
                                            checkable=True)
        view_menu.addSeparator()
        for dock in (self.tags_dock, self.messages_dock):
            view_menu.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About", lambda: AboutDialog(self).exec())

    # -- settings ----------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry") if self.persist else None
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        state = self.settings.value("window/state") if self.persist else None
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.set_layout(str(self.settings.value("view/layout", "2x2")) if self.persist else "2x2")
        hide = self.persist and str(self.settings.value("view/hide_identity", "false")).lower() == "true"
        self.identity_action.setChecked(hide)
        self.set_hide_identity(hide)

    def _save_settings(self) -> None:
        if not self.persist:
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("view/layout", self.layout_name)
        self.settings.setValue("view/hide_identity", self.hide_identity)
        self.settings.sync()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.recent.items():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.recent.items()))

    # -- view state --------------------------------------------------------------------
    @property
    def volume(self) -> Volume | None:
        """The main series on screen (the model's slot 0)."""
        return self.model.volume()

    @property
    def current_key(self) -> str:
        """The catalogue key (or file) of the main series on screen."""
        return self.model.slot().source

    @property
    def hide_identity(self) -> bool:
        return self.model.hide_identity

    def set_layout(self, name: str) -> None:
        name = name if name in LAYOUTS else "2x2"
        self.layout_name = name
        self.viewer.set_layout(name)
        self.layout_actions[name].setChecked(True)

    def set_hide_identity(self, hide: bool) -> None:
        self.model.set_hide_identity(hide)

    def _identity_switched(self, hide: bool) -> None:
        self.browser.set_hide_identity(hide)
        self.tags.set_hide_identity(hide)
        if self.identity_action.isChecked() != hide:
            self.identity_action.setChecked(hide)
        self._update_title()

    def _update_title(self) -> None:
        parts = [APP_TITLE]
        if self.volume is not None:
            meta = self.volume.meta
            if not self.hide_identity and meta.patient_name:
                parts.append(meta.patient_name)
            parts.append(meta.description or meta.modality or "series")
        self.setWindowTitle(" \N{EM DASH} ".join(parts))

    # -- jobs and progress -------------------------------------------------------------
    def run_job(self, job: Job, name: str, context: str, on_result: Callable[[Any], None],
                on_failure: Callable[[BaseException], None] | None = None,
                on_event: Callable[[object], None] | None = None, event_kwarg: str = "") -> JobHandle:
        """A foreground job: its progress shows in the status bar, Cancel stops it, errors go to the log."""
        def done(result: object) -> None:
            self._finish_foreground(handle)
            on_result(result)

        def failed(error: BaseException) -> None:
            self._finish_foreground(handle)
            if isinstance(error, Cancelled):
                self.messages.add(f"{context}: cancelled", logging.INFO)
            else:
                self.messages.add_error(error, context)
            self.jobFailed.emit(f"{context}: {one_line(error)}")
            if on_failure is not None:
                on_failure(error)

        handle = self.runner.submit(job, name, on_result=done, on_error=failed, on_progress=self._show_progress,
                                    on_event=on_event, event_kwarg=event_kwarg)
        self._foreground.append(handle)
        self._show_progress(0.0, context)
        return handle

    def _show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress_label.setText(message)
        for widget in (self.progress_label, self.progress, self.cancel_button):
            widget.show()

    def _finish_foreground(self, handle: JobHandle) -> None:
        if handle in self._foreground:
            self._foreground.remove(handle)
        if not self._foreground:
            for widget in (self.progress_label, self.progress, self.cancel_button):
                widget.hide()

    def cancel_jobs(self) -> None:
        for handle in list(self._foreground):
            handle.cancel()

    def busy(self) -> bool:
        """True while a foreground job or a thumbnail is being made."""
        return bool(self._foreground or self._thumbnail_job or self._thumbnail_queue)

    # -- opening -----------------------------------------------------------------------
    def _ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a DICOM folder without importing it")
        if folder:
            self.open_folder(folder)

    def _ask_import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a DICOM folder into the library")
        if folder:
            self.import_folder(folder)

    def _ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image file", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def _ask_open_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a label map on the shown image", "", IMAGE_FILTER)
        if path:
            self.open_labels(path)

    def open_labels(self, path: str | Path) -> JobHandle | None:
        """An integer image file on the shown image's grid as its labels layer (one segment per value)."""
        image = self.volume
        if image is None:
            self.messages.add("labels: open an image first, then its label map")
            return None
        key = self.current_key
        source = str(Path(path).resolve())

        def opened(labels: LabelMap) -> None:
            if self.model.showing(key):
                self.model.set_labels(LabelsLayer(labels))
                self.messages.add(f"labels: {len(labels.segments)} segment(s) from {Path(source).name}", logging.INFO)

        job = Job(open_labels, source, image)
        return self.run_job(job, "open", f"opening the labels {Path(source).name}", opened)

    def _ask_open_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder of 'workstation experiment run'")
        if folder:
            self.open_run(folder)

    def open_path(self, path: str | Path, load_first: bool = True) -> JobHandle:
        """Open whatever ``path`` is: a run folder of an experiment, an image file, or DICOM (folder or file)."""
        from workstation.experiments.review import is_run_folder  # pandas: paid only when a path is opened

        p = Path(path)
        if is_run_folder(p):
            return self.open_run(p)
        if is_image_file(p):
            return self.open_image(p)
        return self.open_folder(p, load_first)

    def open_image(self, path: str | Path) -> JobHandle:
        """An image file (NIfTI with its sform/qform, NRRD, MetaImage; 3D or 4D) as the main series, in LPS."""
        source = str(Path(path).resolve())

        def opened(volume: Volume) -> None:
            self._show_volume(source, volume)
            self.recent.add(source)
            self._fill_recent_menu()
            self.volumeLoaded.emit(source)

        job = Job(open_volume, source)
        return self.run_job(job, "open", f"opening {Path(source).name}", opened)

    def open_run(self, folder: str | Path) -> JobHandle:
        """A run folder of ``workstation experiment run``: the fixed image with the moving one fused through the
        run's transform, both sets of landmarks with their errors, and the metric history (registration dock)."""
        from workstation.experiments.review import read_run

        source = str(Path(folder).resolve())

        def read(review: object) -> None:
            self.recent.add(source)
            self._fill_recent_menu()
            self.registration.review_run(review)

        return self.run_job(Job(read_run, source), "open", f"reading the run {Path(source).name}", read)

    def open_folder(self, path: str | Path, load_first: bool = True) -> JobHandle:
        """Scan a folder or file (not imported), list its series, and load the first one."""
        source = str(Path(path).resolve())

        def scanned(opened: Opened) -> None:
            for line in opened.notes:
                self.messages.add(line, logging.INFO)
            keys = self.catalog.add(opened.plans, source)
            self.recent.add(source)
            self._fill_recent_menu()
            self._refresh_browser()
            if not keys:
                self.messages.add_error(WorkstationError("no loadable DICOM images", source))
            elif load_first:
                self.browser.select_series(keys[0])
                self.load_series(keys[0])

        return self.run_job(Job(open_path, source), "open", f"scanning {Path(source).name}", scanned)

    def open_demo(self) -> JobHandle:
        """Write the demo study on first use (a few seconds), then open its two series.

        The series folders, not the study folder: its ground-truth files are
        not DICOM, and a first run should show no warning that is not one.
        """
        from workstation.demo import ensure_demo_study  # deferred: faster start-up

        def written(folder: Path) -> None:
            self.open_folder(folder / "CT")
            self.open_folder(folder / "MR", load_first=False)

        return self.run_job(Job(ensure_demo_study), "demo", "preparing the demo study", written)

    def import_folder(self, path: str | Path) -> JobHandle:
        """Import into the library (new or changed files only), then list the library in the browser."""
        source = str(Path(path).resolve())

        def imported(done: Imported) -> None:
            for line in done.notes:
                self.messages.add(line, logging.INFO)
            self._list_library(done.plans)
            self.recent.add(source)
            self._fill_recent_menu()
            self.libraryListed.emit()

        return self.run_job(Job(import_and_list, self.library, source), "import",
                            f"importing {Path(source).name}", imported)

    def list_library(self) -> JobHandle:
        """Show what the library holds (at start-up, in the background)."""
        def listed(plans: list) -> None:
            self._list_library(plans)
            self.libraryListed.emit()

        return self.run_job(Job(library_plans, self.library), "library", "listing the library", listed)

    def _list_library(self, plans: list) -> None:
        self.catalog.add(plans, LIBRARY_SOURCE)
        self._refresh_browser()

    def _refresh_browser(self) -> None:
        self.browser.set_patients(self.catalog.patients(self.store.measured_series(), self.library.label_objects()))
        self._thumbnail_queue = [k for k in self.browser.series_uids()
                                 if not self.browser.has_thumbnail(k) and k in self.catalog]
        self._next_thumbnail()

    def _next_thumbnail(self) -> None:
        """One thumbnail job at a time, in the background (not shown in the status bar)."""
        if self._thumbnail_job is not None or not self._thumbnail_queue or self.runner.closed:
            return
        key = self._thumbnail_queue.pop(0)

        def made(pixels: np.ndarray) -> None:
            self._thumbnail_job = None
            self.browser.set_thumbnail(key, pixels)
            self._next_thumbnail()

        def failed(error: BaseException) -> None:
            self._thumbnail_job = None
            if not isinstance(error, Cancelled):
                self.messages.add_error(error, "thumbnail")
            self._next_thumbnail()

        self._thumbnail_job = self.runner.submit(Job(series_thumbnail, self.catalog[key].files), "thumbnail",
                                                 on_result=made, on_error=failed)

    # -- loading -----------------------------------------------------------------------
    def load_series(self, key: str) -> JobHandle | None:
        """Load a catalogued volume in the background; the first slice shows as soon as it is decoded."""
        if key not in self.catalog:
            return None
        if self._load is not None:
            self._load.cancel()
        entry = self.catalog[key]

        def first(event: object) -> None:
            if handle is not self._load:
                return  # a load the user has replaced
            if isinstance(event, FirstSlice):
                self._show_volume(key, event.volume, complete=False)
                self.firstSliceShown.emit(key)
            elif isinstance(event, SliceDone) and not self._refresh_timer.isActive():
                self._refresh_timer.start()

        def loaded(volume: Volume) -> None:
            if handle is not self._load:
                return
            self._load = None
            self._refresh_timer.stop()
            self._complete_volume(key, volume)
            for warning in volume.meta.warnings:
                self.messages.add(f"{entry.plan.description or key}: {warning}", logging.INFO)
            self.volumeLoaded.emit(key)

        def failed(error: BaseException) -> None:
            if handle is self._load:
                self._load = None
                self.loadFailed.emit(str(error))

        handle = self.run_job(Job(load_progressively, entry.plan), "load", f"loading {entry.plan.description or key}",
                              loaded, on_failure=failed, on_event=first, event_kwarg="post")
        self._load = handle
        return handle

    def _show_volume(self, key: str, volume: Volume, complete: bool = True) -> None:
        """Show a volume as the main series (``complete=False``: a preview the loader is still filling)."""
        self._restoring = True  # the new image drops the old series' measurements: nothing to save
        try:
            self.model.set_image(volume, source=key, complete=complete)
        finally:
            self._restoring = False
        self._restore_measurements(key)
        self._show_series_tags(key)
        self._update_title()

    def _complete_volume(self, key: str, volume: Volume) -> None:
        """The load finished: show the rest of the slices of its preview, or the whole volume if not previewed."""
        if self.model.showing(key, loading=True):
            self.model.complete_image(volume)
            self._update_title()
        else:
            self._show_volume(key, volume)

    def _refresh_volume(self) -> None:
        if self.volume is not None:
            self.model.voxels_modified()

    # -- tags --------------------------------------------------------------------------
    def _show_series_tags(self, key: str) -> None:
        if key in self.catalog:
            files = self.catalog[key].files
            self._show_tags(files[len(files) // 2])

    def _show_tags(self, path: str) -> None:
        try:
            self.tags.set_tree(file_tree(path), Path(path).name)
        except WorkstationError as exc:
            self.tags.clear()
            self.messages.add_error(exc, "tags")

    def _position_changed(self, lps: object) -> None:
        self._position = np.asarray(lps, dtype=float)
        self._tags_timer.start()

    def _show_tags_at_position(self) -> None:
        """The tag inspector follows the acquired image nearest to the crosshair."""
        if self._position is None or self.current_key not in self.catalog:
            return
        plan = self.catalog[self.current_key].plan
        k = int(round(float(np.linalg.solve(plan.affine, [*self._position, 1.0])[2])))
        frame = plan.frame_at(0, min(max(k, 0), plan.slices - 1))
        if frame is not None:
            self._show_tags(frame.path)

    # -- measurements ------------------------------------------------------------------
    def _restore_measurements(self, key: str) -> None:
        self._restoring = True
        try:
            saved = [Measurement.from_dict(d) for d in self.store.load(key)]
            self.viewer.model.set_measurements(saved)
        except (WorkstationError, KeyError, ValueError) as exc:
            self.messages.add_error(exc if isinstance(exc, WorkstationError) else WorkstationError(
                f"saved measurements unreadable ({exc})"), "measurements")
        finally:
            self._restoring = False

    def _save_measurements(self) -> None:
        if self._restoring or not self.current_key:
            return
        try:
            self.store.save(self.current_key, [m.to_dict() for m in self.viewer.model.measurements()])
        except WorkstationError as exc:
            self.messages.add_error(exc, "measurements")

    def measurement_records(self) -> list[dict]:
        return [record(m, self.volume) for m in self.viewer.model.measurements()]

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export measurements as CSV", "measurements.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> Path | None:
        try:
            out = write_csv(self.measurement_records(), path)
        except WorkstationError as exc:
            self.messages.add_error(exc, "CSV export")
            return None
        self.messages.add(f"measurements written to {out}", logging.INFO)
        return out

    def _ask_export_sr(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export measurements as DICOM SR", "measurements.dcm",
                                              "DICOM (*.dcm)")
        if path:
            self.export_sr(path)

    def export_sr(self, path: str | Path) -> JobHandle | None:
        if self.current_key not in self.catalog:
            self.messages.add("SR export: no series is open")
            return None
        from workstation.dicom.sr import write_report  # deferred: faster start-up
        segment_records, segmentation_file = self.segmentation.report_segments()
        job = Job(write_report, self.measurement_records(), self.catalog[self.current_key].files, str(path),
                  segment_records, segmentation_file)
        return self.run_job(job, "sr", "SR export",
                            lambda out: self.messages.add(f"report written to {out}", logging.INFO))

    # -- image export ------------------------------------------------------------------
    def _ask_export_image(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the image", "image.nii.gz",
                                              "Images (*.nii.gz *.nii *.nrrd *.mha)")
        if path:
            self.export_image(path)

    def export_image(self, path: str | Path) -> JobHandle | None:
        """The shown volume as an image file, by the writer ``workstation convert`` uses (exact LPS geometry)."""
        volume, out = self.volume, Path(path)
        if volume is None:
            self.messages.add("image export: no image is shown")
            return None

        def write(progress, cancel) -> Path:
            progress(0.0, f"writing {out.name}")
            write_volume(volume, out)
            return out

        return self.run_job(Job(write), "export", "image export",
                            lambda written: self.messages.add(f"image written to {written}", logging.INFO))

    # -- screenshots -------------------------------------------------------------------
    def compose_screenshot(self) -> QImage:
        """The window as shown: Qt widgets by ``grab``, the VTK views painted over from their own capture."""
        self.viewer.render_all()
        image = self.grab().toImage()
        views = self.viewer.grab_image()
        painter = QPainter(image)
        origin = self.viewer.mapTo(self, QPoint(0, 0))
        ratio = image.devicePixelRatio()
        painter.drawImage(QPoint(int(origin.x() * ratio), int(origin.y() * ratio)), views)
        painter.end()
        return image

    def save_screenshot(self, path: str | Path) -> Path:
        out = Path(path)
        if not self.compose_screenshot().save(str(out), "PNG"):
            raise WorkstationError("cannot write the screenshot", out)
        return out

    def export_view_png(self, view: str, path: str | Path) -> Path:
        """One view ("axial", "coronal", "sagittal", "3d") or the whole viewer layout ("layout") as a PNG file."""
        out = Path(path)
        if view == "layout":
            self.viewer.render_all()
            image = self.viewer.grab_image()
        else:
            shown = self.viewer.volume_view() if view == "3d" else self.viewer.slice_view(view)
            image = to_qimage(shown.capture())
        if not image.save(str(out), "PNG"):
            raise WorkstationError("cannot write the PNG", out)
        return out

    def _ask_export_view(self, view: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", f"{view}.png", "PNG (*.png)")
        if path:
            try:
                self.export_view_png(view, path)
            except WorkstationError as exc:
                self.messages.add_error(exc, "PNG export")

    def _ask_screenshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "workstation.png", "PNG (*.png)")
        if path:
            try:
                self.save_screenshot(path)
            except WorkstationError as exc:
                self.messages.add_error(exc, "screenshot")

    # -- drag and drop -----------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        for n, path in enumerate(paths):
            self.open_path(path, load_first=n == 0)
        event.acceptProposedAction()

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self._refresh_timer.stop()
        self._tags_timer.stop()
        self._save_settings()
        if not self.runner.shutdown():
            log.warning("some jobs were still running when the window closed")
        self.viewer.close_views()
        self.library.close()
        super().closeEvent(event)
