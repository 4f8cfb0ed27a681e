"""The viewer's controls in the main window: toolbar, measurement list, 3D panel, and a second series to compare.

A surgical hook like the registration one: ``MainWindow`` calls ``install``
once; the wiring lives here so the window's own module stays small. The
second series ("compare": a prior beside the current study, or the MR beside
the CT) loads in the background like the main one and goes to the viewer's
slot 1, to the right; position, zoom and window follow the main series
where the user links them (View > Compare).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu

from widgets.measurement_list import MeasurementList
from widgets.metric_plot import MetricPlot
from widgets.view_toolbar import ViewToolbar
from widgets.volume_controls import VolumeControls
from workstation.app.job_runner import JobHandle
from workstation.dicom import load
from workstation.dicom.assemble import SeriesPlan
from workstation.jobs import CancelFlag, Job, Progress
from workstation.volume import Volume

COMPARE_SLOT = 1
LINKS = {"position": "Link &position", "zoom": "Link &zoom and pan", "window": "Link &window"}


def load_volume(progress: Progress, cancel: CancelFlag | None, plan: SeriesPlan) -> Volume:
    """Job: the whole planned volume (the second series is shown when complete; no progressive preview)."""
    return load.load_plan(progress, cancel, plan)


class ViewControls(QObject):
    """What ``install`` built, for the window and the tests to reach."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        viewer = window.viewer
        self.toolbar = ViewToolbar(viewer, window)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self.toolbar.addAction(window.identity_action)
        self.toolbar.layoutRequested.connect(window.set_layout)
        for name, action in window.layout_actions.items():
            action.toggled.connect(lambda on, n=name: on and self.toolbar.set_layout_shown(n))

        self.measurements = MeasurementList(viewer)
        self.measurements.exportCsvRequested.connect(window._ask_export_csv)
        self.measurements.exportSrRequested.connect(window._ask_export_sr)
        self.measurement_dock = self._dock("Measurements", self.measurements, Qt.DockWidgetArea.RightDockWidgetArea)
        self.volume_controls = VolumeControls(
            lambda: viewer.volume_view() if viewer.model.volume() is not None else None)
        self.volume_dock = self._dock("3D", self.volume_controls, Qt.DockWidgetArea.RightDockWidgetArea)
        window.tabifyDockWidget(window.tags_dock, self.volume_dock)
        self.time_plot = MetricPlot()
        self.time_dock = self._dock("Probe over time", self.time_plot, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.time_dock.hide()
        viewer.probe.connect(self._probe_over_time)
        window.tags_dock.raise_()
        window.firstSliceShown.connect(self._series_shown)
        window.volumeLoaded.connect(self._series_shown)  # a series shown only when complete emits no first slice

        self.second_key = ""
        self._second_load: JobHandle | None = None
        self.link_actions: dict[str, QAction] = {}
        self._build_compare_menu()
        window.browser.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        window.browser.tree.customContextMenuRequested.connect(self._browser_menu)

    def _dock(self, title: str, widget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        return dock

    def _view_menu(self) -> QMenu:
        return next(a.menu() for a in self.window.menuBar().actions() if a.text().replace("&", "") == "View")

    def _build_compare_menu(self) -> None:
        view_menu = self._view_menu()
        for dock in (self.measurement_dock, self.volume_dock):
            view_menu.addAction(dock.toggleViewAction())
        menu = view_menu.addMenu("&Compare")
        self.compare_action = menu.addAction("Open the selected series &beside the current one",
                                             lambda: self.compare(self.window.browser.current_series()))
        self.close_compare_action = menu.addAction("&Close the second series", self.close_compare)
        menu.addSeparator()
        viewer = self.window.viewer
        for key, text in LINKS.items():
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setChecked(getattr(viewer.model.links, key))
            action.toggled.connect(lambda on, k=key: viewer.model.set_links(**{k: on}))
            self.link_actions[key] = action
        viewer.controlsChanged.connect(self._show_links)

    def _show_links(self) -> None:
        for key, action in self.link_actions.items():
            action.blockSignals(True)
            action.setChecked(getattr(self.window.viewer.model.links, key))
            action.blockSignals(False)

    def _browser_menu(self, at: QPoint) -> None:
        tree = self.window.browser.tree
        item = tree.itemAt(at)
        if item is None:
            return
        tree.setCurrentItem(item)
        key = self.window.browser.current_series()
        if not key:
            return
        menu = QMenu(tree)
        menu.addAction("&Open", lambda: self.window.load_series(key))
        beside = menu.addAction("Open &beside the current series (compare)", lambda: self.compare(key))
        beside.setEnabled(self.window.viewer.model.volume() is not None and key != self.window.current_key)
        menu.popup(tree.viewport().mapToGlobal(at))

    def _series_shown(self, _key: str) -> None:
        self.toolbar.volume_changed()
        self.volume_controls.sync()
        volume = self.window.viewer.model.volume()
        self.time_dock.setVisible(volume is not None and volume.timepoints > 1)

    def _probe_over_time(self, probe: dict) -> None:
        """The probed voxel's value at every time point of a 4D series, as a small plot."""
        slot = self.window.viewer.model.slot(probe["slot"])
        if slot.volume is None or slot.volume.timepoints < 2:
            return
        values = slot.values_over_time(probe["lps"])
        self.time_plot.clear()
        if values is not None:
            self.time_plot.add("voxel", values.tolist())

    # -- the second series ---------------------------------------------------------------------
    def compare(self, key: str) -> JobHandle | None:
        """Load the catalogued series ``key`` in the background and show it beside the main series."""
        window = self.window
        if key not in window.catalog or window.viewer.model.volume() is None:
            window.messages.add("compare: open a series first, then choose a second one in the browser")
            return None
        if self._second_load is not None:
            self._second_load.cancel()
        plan = window.catalog[key].plan

        def loaded(volume: Volume) -> None:
            if handle is not self._second_load:
                return
            self._second_load = None
            self.second_key = key
            window.viewer.model.set_image(volume, COMPARE_SLOT)
            window.messages.add(f"comparing with {plan.description or key}", logging.INFO)

        handle = window.run_job(Job(load_volume, plan), "load", f"loading {plan.description or key} to compare",
                                loaded)
        self._second_load = handle
        return handle

    def close_compare(self) -> None:
        if self._second_load is not None:
            self._second_load.cancel()
            self._second_load = None
        if self.window.viewer.model.volume(COMPARE_SLOT) is not None:
            self.window.viewer.model.clear_slot(COMPARE_SLOT)
        self.second_key = ""


def install(window: Any) -> ViewControls:
    """Add the view toolbar, the measurement and 3D docks and the compare actions to the main window."""
    return ViewControls(window)
