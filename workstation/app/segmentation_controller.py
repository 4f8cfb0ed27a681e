"""Segmentation in the window: the segment editor and statistics docks wired to the labels layer and to jobs.

The controller only wires (3D Slicer's Widget to its Logic): the tools are
``segmentation`` (paint, grow, islands, morphology, statistics), the label
map is the viewer model's labels layer, the drawing is
``widgets.labels_layer.ViewerLabels``. Every change of the map goes through
one ``EditHistory`` per map, on the GUI thread, so undo and redo see all of
them:

- A brush stroke (press, moves, release) paints as it goes and becomes one
  undoable edit on release: the moves are recorded in a history of their
  own, folded into the box the whole stroke touched.
- 3D operations run as jobs (progress and Cancel in the status bar) on a
  copy of the map; their result is written back as one edit. The editing
  tools wait while one runs.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QFileDialog, QScrollArea

from segmentation.edit import set_segment
from segmentation.history import EditHistory, Region
from segmentation.paint import erase, paint
from widgets.labels_layer import ViewerLabels
from widgets.labels_surface import SurfaceActors, segment_surfaces
from widgets.segment_editor import SegmentEditor
from widgets.segment_statistics import SegmentStatisticsPanel
from workstation.app.job_runner import JobHandle
from workstation.dicom.label_objects import read_label_object
from workstation.errors import WorkstationError
from workstation.image_io import write_volume
from workstation.jobs import CancelFlag, Job, Progress
from workstation.labels import LabelMap, default_segment
from workstation.viewer_model import LabelsLayer
from workstation.volume import Volume

if TYPE_CHECKING:
    from segmentation.statistics import SegmentStatistics


def on_copy(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, operation: Any, *args: Any) -> LabelMap:
    """Run an in-place segmentation operation on a copy of ``labels``; a job (the shown map stays as it is)."""
    copy = LabelMap(replace(labels.volume, array=labels.array.copy()), [replace(s) for s in labels.segments])
    operation(progress, cancel, copy, *args)
    return copy


def opened_line(maps: list[LabelMap], source: str, note: str = "", subject: str = "segmentation") -> str:
    """The message of a label map opened (fixed or moving): its segments, the layers of overlapping segments left
    out, a note."""
    line = f"{subject}: {len(maps[0].segments)} segment(s) from {Path(source).name}"
    if len(maps) > 1:
        line += f"; {len(maps) - 1} more layer(s) of overlapping segments not shown"
    return f"{line}; {note}" if note else line


def brush_box(labels: LabelMap, centre: np.ndarray, radius_mm: float) -> Region:
    """A (k, j, i) box of the map holding every voxel a brush of ``radius_mm`` at ``centre`` can reach."""
    middle = labels.volume.world_to_index(centre)
    reach = radius_mm / np.asarray(labels.volume.spacing) + 1
    low = np.maximum(np.floor(middle - reach), 0).astype(int)
    high = np.minimum(np.ceil(middle + reach) + 1, np.asarray(labels.volume.shape_ijk)).astype(int)
    return tuple(slice(int(low[a]), int(max(high[a], low[a]))) for a in (2, 1, 0))  # type: ignore[return-value]


class SegmentationController(QObject):
    """What ``install`` built: the docks, the labels drawing, and the current map's history."""

    finished = Signal(str)  # the context of an operation whose result is applied (or shown)

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.model = window.model
        self.labels_view = ViewerLabels(window.viewer)
        self.editor = SegmentEditor()
        self.statistics = SegmentStatisticsPanel()
        self.current: int | None = None
        self.sphere = False
        self.history: EditHistory | None = None
        self.surfaces: SurfaceActors | None = None
        self.revision = 0  # counts changes of the shown labels: statistics and a SEG belong to one revision
        self._statistics_revision = -1
        self._seg: tuple[str, int] | None = None  # the SEG last written of these labels, and of which revision
        self._stroke: EditHistory | None = None
        self._job: JobHandle | None = None
        self._pending: tuple[str, str] | None = None  # (series key, SEG/RTSTRUCT path) to open once it has loaded
        self._wire()

    # -- state --------------------------------------------------------------------------------
    @property
    def layer(self) -> LabelsLayer | None:
        return self.model.slot().labels

    @property
    def labels(self) -> LabelMap | None:
        return self.layer.labels if self.layer is not None else None

    def _wire(self) -> None:
        e, v = self.editor, self.labels_view
        self.model.slot().layers.connect(self._layers_changed)
        e.newLabelsRequested.connect(self.new_labels)
        e.addRequested.connect(self.add_segment)
        e.removeRequested.connect(self.remove_segment)
        e.selected.connect(self.select)
        e.renamed.connect(lambda n, text: self._edit_segment(n, label=text))
        e.recoloured.connect(lambda n, rgb: self._edit_segment(n, colour=tuple(rgb)))
        e.visibilityChanged.connect(lambda n, on: self._edit_segment(n, visible=on))
        e.opacityChanged.connect(lambda n, value: self._edit_segment(n, opacity=value))
        e.toolChanged.connect(self.set_tool)
        e.brushChanged.connect(self.set_brush)
        e.actionRequested.connect(self.run_action)
        e.undoRequested.connect(self.undo)
        e.redoRequested.connect(self.redo)
        e.saveSegRequested.connect(self._ask_save_seg)
        e.saveLabelMapRequested.connect(self._ask_save_label_map)
        e.surfacesRequested.connect(self.show_surfaces)
        e.previewChanged.connect(self._preview)
        e.openObjectRequested.connect(lambda path: self.open_object(path) if path else self._ask_open_object())
        self.window.volumeLoaded.connect(self._list_objects)
        self.statistics.computeRequested.connect(self.compute_statistics)
        self.statistics.exportRequested.connect(self._ask_export_csv)
        v.stroke.connect(self._stroke_event)
        v.seedPicked.connect(lambda _view, lps: self.grow(lps))

    def _layers_changed(self) -> None:
        """A labels layer was set (opened, new) or dropped (another image): a fresh history, the first segment."""
        labels = self.labels
        if self.history is not None and labels is self.history.labels:
            return
        self.history = EditHistory(labels) if labels is not None else None
        self._stroke = None
        self._edited()
        self._seg = None
        if labels is not None:
            self.layer.changed.connect(self._edited)
            self.layer.voxels.connect(self._edited)
        if self.surfaces is not None:
            self.surfaces.clear()
        self.current = labels.segments[0].number if labels is not None and labels.segments else None
        self._show()

    def _edited(self, *_: object) -> None:
        self.revision += 1
        self.statistics.set_stale(True)

    def _show(self) -> None:
        labels = self.labels
        self.editor.set_segments(labels.segments if labels is not None else None, self.current)
        history = self.history
        self.editor.set_history(bool(history and history.can_undo), bool(history and history.can_redo))

    def _report(self, line: str) -> None:
        self.window.messages.add(line, logging.INFO)

    def _busy(self) -> bool:
        if self._job is not None:
            self._report("segmentation: wait for the running operation (or cancel it)")
            return True
        return False

    # -- segments -----------------------------------------------------------------------------
    def new_labels(self) -> LabelsLayer | None:
        """An empty label map with one segment on the shown image, as its labels layer."""
        image = self.model.volume()
        if image is None:
            self._report("segmentation: open an image first")
            return None
        layer = LabelsLayer(LabelMap.empty_like(image, [default_segment(1)]))
        self.model.set_labels(layer)
        return layer

    def add_segment(self) -> int | None:
        labels = self.labels
        if labels is None:
            return None
        number = labels.next_number()
        if number > np.iinfo(labels.array.dtype).max:
            self._report("segmentation: no more segments fit in this label map")
            return None
        labels.segments.append(default_segment(number))
        self.current = number
        self.layer.segments_changed()
        self._show()
        return number

    def remove_segment(self, number: int) -> None:
        """Remove a segment and its voxels (undoable for the voxels)."""
        labels = self.labels
        if labels is None or self._busy():
            return
        set_segment(labels, number, np.zeros(labels.array.shape, bool), "remove segment", self.history)
        labels.segments = [s for s in labels.segments if s.number != number]
        self.current = labels.segments[0].number if labels.segments else None
        self.layer.voxels_changed()
        self.layer.segments_changed()
        self._show()

    def select(self, number: int) -> None:
        self.current = number
        self._preview()

    def _edit_segment(self, number: int, **changes: Any) -> None:
        segment = self.labels.segment(number)
        for key, value in changes.items():
            setattr(segment, key, value)
        self.layer.segments_changed()
        if self.surfaces is not None and self.surfaces.actors:
            self.surfaces.restyle(self.labels)
            self.window.viewer.volume_view().render()

    # -- tools --------------------------------------------------------------------------------
    def set_tool(self, tool: str | None) -> None:
        self.labels_view.set_tool(tool)
        self.editor.set_tool(tool)

    def set_brush(self, radius_mm: float, sphere: bool) -> None:
        self.sphere = sphere
        self.labels_view.set_tool(self.labels_view.tool, radius_mm)

    def _stroke_event(self, view_name: str, lps: np.ndarray, phase: str) -> None:
        labels, layer = self.labels, self.layer
        if labels is None or self.current is None or self._job is not None:
            return
        if phase == "press":
            self._stroke = EditHistory(labels)
        if self._stroke is None:
            return
        if phase == "release":
            self._end_stroke()
            return
        radius = self.labels_view.radius_mm
        normal = None if self.sphere else self.window.viewer.slice_view(view_name).shown.normal
        if self.labels_view.tool == "erase":
            erase(labels, lps, radius, normal, self.current, history=self._stroke)
        else:
            paint(labels, self.current, lps, radius, normal, history=self._stroke)
        layer.voxels_changed(brush_box(labels, lps, radius))

    def _end_stroke(self) -> None:
        """Fold the stroke's small edits into one undoable edit over the box they touched together."""
        stroke, self._stroke = self._stroke, None
        edits = []
        while (edit := stroke.undo()) is not None:
            edits.append(edit)
        if not edits:
            return
        region = tuple(slice(min(e.region[a].start for e in edits), max(e.region[a].stop for e in edits))
                       for a in range(3))
        array = self.labels.array
        before = array[region].copy()
        while stroke.redo() is not None:
            pass
        after = array[region].copy()
        array[region] = before
        self.history.apply(edits[-1].name, region, after)
        self._show()

    def undo(self) -> None:
        self._undo_redo(self.history.undo if self.history else None)

    def redo(self) -> None:
        self._undo_redo(self.history.redo if self.history else None)

    def _undo_redo(self, step: Any) -> None:
        if step is None or self._busy():
            return
        edit = step()
        if edit is not None:
            self.layer.voxels_changed(edit.region)
        self._show()

    def _preview(self) -> None:
        """The threshold range drawn live in the current segment's colour while the preview is on."""
        labels = self.labels
        if not self.editor.preview.isChecked() or labels is None or self.current is None:
            self.labels_view.set_preview(None)
            return
        self.labels_view.set_preview(*self._range(), labels.segment(self.current).colour)

    def _range(self) -> tuple[float, float]:
        return self.editor.lower.value(), self.editor.upper.value()

    def grow(self, seed: np.ndarray) -> JobHandle | None:
        """Region growing from a clicked seed within the threshold range, added to the current segment; a job."""
        from segmentation.grow import region_grow  # deferred: faster start-up
        image, labels, number = self.model.volume(), self.labels, self.current
        if labels is None or number is None or self._busy():
            return None
        lower, upper = self._range()
        return self._run(Job(region_grow, image, image, seed, lower, upper), "growing the region",
                         lambda mask: self._set(number, mask | labels.mask(number), "grow", labels))

    def run_action(self, action: str) -> JobHandle | None:
        """One of the editor's operations on the current segment, as a job."""
        from segmentation.grow import grow_from_seeds, threshold  # deferred: faster start-up
        from segmentation.islands import keep_largest, remove_small, split
        from segmentation.morphology import fill_between_slices, fill_holes, smooth
        labels, number, e = self.labels, self.current, self.editor
        if labels is None or number is None or self._busy():
            return None
        image = self.model.volume()
        if action == "threshold":
            lower, upper = self._range()
            return self._run(Job(lambda progress, cancel: threshold(image, lower, upper)), "thresholding",
                             lambda mask: self._set(number, mask, "threshold", labels))
        if action == "grow from seeds":
            return self._run(Job(grow_from_seeds, image, labels), "growing from seeds",
                             lambda array: self._replace(labels, "grow from seeds", array))
        operations = {
            "keep largest": (keep_largest, number),
            "remove small": (remove_small, number, e.min_voxels.value()),
            "split": (split, number),
            "smooth": (smooth, number, e.smoothing_mm.value(), e.smoothing.currentText()),
            "fill holes": (fill_holes, number),
            "fill between slices": (fill_between_slices, number),
        }
        operation, *args = operations[action]
        return self._run(Job(on_copy, labels, operation, *args), action,
                         lambda copy: self._replace(labels, action, copy.array, copy.segments))

    def _run(self, job: Job, context: str, done: Any) -> JobHandle:
        def finished(result: Any) -> None:
            self._job = None
            done(result)
            self.finished.emit(context)

        def failed(_error: BaseException) -> None:
            self._job = None

        self._job = self.window.run_job(job, "segmentation", context, finished, on_failure=failed)
        return self._job

    def _set(self, number: int, mask: np.ndarray, name: str, labels: LabelMap) -> None:
        if labels is not self.labels:
            return  # the labels were replaced meanwhile
        set_segment(labels, number, mask, name, self.history)
        self.layer.voxels_changed()
        self._show()

    def _replace(self, labels: LabelMap, name: str, array: np.ndarray, segments: list | None = None) -> None:
        if labels is not self.labels:
            return
        edit = self.history.replace(name, array)
        if segments is not None and [s.number for s in segments] != [s.number for s in labels.segments]:
            labels.segments = segments
            self.layer.segments_changed()
        self.layer.voxels_changed(edit.region if edit is not None else None)
        self._show()

    # -- registration ---------------------------------------------------------------------------
    def registration_mask(self) -> tuple[str, Volume] | None:
        """The selected segment as the fixed image's registration mask (0/1 on its grid), when the editor says so.

        Read when a run starts, so the segment as it is then is the mask.
        """
        labels, number = self.labels, self.current
        if not self.editor.registration_mask.isChecked() or labels is None or number is None:
            return None
        return labels.segment(number).label, labels.mask_volume(number)

    # -- 3D -----------------------------------------------------------------------------------
    def show_surfaces(self) -> JobHandle | None:
        """The segments as surfaces in the 3D view (the 2x2 layout shows it); a job."""
        labels = self.labels
        if labels is None or self._busy():
            return None
        copy = LabelMap(replace(labels.volume, array=labels.array.copy()), [replace(s) for s in labels.segments])

        def shown(surfaces: list) -> None:
            if labels is not self.labels:
                return
            view = self.window.viewer.volume_view()
            if view not in self.window.viewer.visible_views():
                self.window.set_layout("2x2")
            if self.surfaces is None or self.surfaces.renderer is not view.renderer:
                self.surfaces = SurfaceActors(view.renderer)
            self.surfaces.show(labels, surfaces)
            view.render()

        return self._run(Job(segment_surfaces, copy), "segment surfaces", shown)

    # -- opening segmentations ------------------------------------------------------------------
    def _list_objects(self, key: str) -> None:
        """A series finished loading: offer the segmentations the library files under it."""
        catalog = self.window.catalog
        entry = catalog[key] if key in catalog else None
        paths = [] if entry is None else self.window.library.segmentations_of(entry.plan.series_uid)
        self.editor.set_objects([(Path(p).name, p) for p in paths])
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == key:
            self.open_object(pending[1])

    def open_with_images(self, key: str, path: str) -> JobHandle | None:
        """A SEG/RTSTRUCT picked in the library browser: its series (loaded unless shown) with it as the labels.

        The object opens when the whole series has loaded (``volumeLoaded``),
        never on a preview the loader is still filling.
        """
        if not key:
            return self.open_alone(path)
        if self.model.showing(key, loading=False):
            return self.open_object(path)
        self._pending = (key, path)
        return self.window.load_series(key)

    def open_alone(self, path: str) -> JobHandle | None:
        """A SEG whose images are not at hand, on its own geometry: shown over an image of its own labels
        (voxel value = segment number), with one line saying the images are missing; a job.

        Read whole before anything is shown, so a damaged file leaves the
        window as it was (its one line in the message log).
        """
        if self._busy():
            return None

        def read(progress: Progress, cancel: CancelFlag | None) -> list[LabelMap]:
            progress(0.0, f"reading {Path(path).name}")
            return read_label_object(path, None)

        def opened(maps: list[LabelMap]) -> None:
            labels = maps[0]
            image = replace(labels.volume, array=labels.array.astype(np.int16))
            self.window._show_volume(path, image)  # noqa: SLF001 - the window's one way to show a volume
            self.model.set_labels(LabelsLayer(labels))
            self.window.volumeLoaded.emit(path)
            self.window.messages.add(opened_line(maps, path, "the images it was drawn on are not in the library: "
                                                             "shown on its own geometry over an image of its labels"))

        return self._run(Job(read), f"opening {Path(path).name}", opened)

    def _ask_open_object(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open a DICOM SEG or RTSTRUCT on the shown image", "",
                                              "DICOM (*.dcm *.seg);;All files (*)")
        if path:
            self.open_object(path)

    def open_object(self, path: str | Path) -> JobHandle | None:
        """A DICOM SEG or RTSTRUCT drawn on the shown series as its labels layer; a job.

        Overlapping segments come as several maps: the first is shown, and the message log says so.
        """
        image = self.model.volume()
        if image is None or self._busy():
            return None
        source = str(path)

        def read(progress: Progress, cancel: CancelFlag | None) -> list[LabelMap]:
            progress(0.0, f"reading {Path(source).name}")
            return read_label_object(source, image)

        def opened(maps: list[LabelMap]) -> None:
            if self.model.volume() is not image:
                return
            self.model.set_labels(LabelsLayer(maps[0]))
            self._report(opened_line(maps, source))

        return self._run(Job(read), f"opening {Path(source).name}", opened)

    # -- statistics ---------------------------------------------------------------------------
    def compute_statistics(self) -> JobHandle | None:
        from segmentation.statistics import segment_statistics  # deferred: faster start-up
        labels, image = self.labels, self.model.volume()
        if labels is None or self._busy():
            return None
        copy = LabelMap(replace(labels.volume, array=labels.array.copy()), [replace(s) for s in labels.segments])
        revision = self.revision

        def computed(rows: list[SegmentStatistics]) -> None:
            self._statistics_revision = revision
            self.statistics.set_rows(rows)

        return self._run(Job(segment_statistics, copy, image), "segment statistics", computed)

    def report_segments(self) -> tuple[list[dict], str | None]:
        """What a DICOM SR of the shown series reports of the segments: statistics records and their SEG file.

        Only when the statistics and the SEG last saved are both of the labels
        as they are now (a report never mixes two states of an edited map);
        else nothing, and the message log says why.
        """
        labels = self.labels
        if labels is None or not self.statistics.rows:
            return [], None
        if self._seg is None or self._seg[1] != self.revision or self._statistics_revision != self.revision:
            self._report("report: segment statistics left out; compute them and save the SEG after the last edit")
            return [], None
        from workstation.dicom.seg import seg_numbers  # deferred: faster start-up
        numbers = seg_numbers(labels)
        return ([{**asdict(row), "segment_number": numbers[row.number]} for row in self.statistics.rows
                 if row.number in numbers and row.voxels], self._seg[0])

    def statistics_rows(self) -> list[SegmentStatistics]:
        return self.statistics.rows

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export segment statistics", "segments.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str | Path) -> None:
        from segmentation.statistics import write_csv  # deferred: faster start-up
        try:
            write_csv(self.statistics.rows, Path(path))
            self._report(f"segment statistics written to {path}")
        except WorkstationError as exc:
            self.window.messages.add_error(exc, "statistics")

    # -- saving -------------------------------------------------------------------------------
    def _ask_save_seg(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save as DICOM SEG", "segmentation.dcm", "DICOM (*.dcm)")
        if path:
            self.save_seg(path)

    def save_seg(self, path: str | Path) -> JobHandle | None:
        """The labels as a binary DICOM SEG referencing the shown series; a job."""
        from workstation.dicom.seg import write_seg  # deferred: faster start-up
        labels, image = self.labels, self.model.volume()
        if labels is None or self._busy():
            return None
        revision = self.revision

        def written(out: Path) -> None:
            if labels is self.labels:
                self._seg = (str(out), revision)
            self._report(f"segmentation written to {out}")

        return self._run(Job(write_seg, labels, image, str(path)), "saving the segmentation", written)

    def _ask_save_label_map(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save the label map", "labels.nii.gz",
                                              "Label maps (*.nii.gz *.nii *.nrrd *.mha)")
        if path:
            self.save_label_map(path)

    def save_label_map(self, path: str | Path) -> JobHandle | None:
        """The labels as a NIfTI/NRRD/MetaImage label map (voxel value = segment number); a job."""
        labels = self.labels
        if labels is None or self._busy():
            return None
        out = Path(path)

        def write(progress: Progress, cancel: CancelFlag | None, volume: Volume) -> Path:
            progress(0.0, f"writing {out.name}")
            write_volume(volume, out)
            return out

        return self._run(Job(write, labels.volume), "saving the label map",
                         lambda written: self._report(f"label map written to {written}"))


def install(window: Any) -> SegmentationController:
    """Add the segment editor and statistics docks to the main window (View menu), Ctrl+Z / Ctrl+Y, and the
    registration's mask from the editor (install after the registration)."""
    controller = SegmentationController(window)
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "View")
    for title, panel in (("Segment editor", controller.editor), ("Segment statistics", controller.statistics)):
        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.hide()
        view_menu.addAction(dock.toggleViewAction())
        setattr(controller, "editor_dock" if panel is controller.editor else "statistics_dock", dock)
    window.registration.fixed_mask_source = controller.registration_mask
    window.browser.labelObjectActivated.connect(controller.open_with_images)
    QShortcut(QKeySequence.StandardKey.Undo, window, controller.undo)
    QShortcut(QKeySequence.StandardKey.Redo, window, controller.redo)
    return controller
