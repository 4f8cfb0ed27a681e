"""The study browser: patients, studies and series (with the SEG/RTSTRUCT files drawn on each), search, thumbnails
and warnings.

Widgets do not read DICOM, so the app hands over plain dicts (see
``PatientEntry``) built from the library or from a folder opened without
importing. Searching filters what is shown: every word typed must match the
patient's name or ID, a study or series date (2014-03-05, 20140305 or 2014),
a modality, or a description. With the identity switch on, patients are
shown as "Patient 1, 2, ..." and names and IDs are no longer searchable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLineEdit, QMenu, QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

THUMB_SIZE = 40
KIND_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 3
COLUMNS = ("Patient / study / series", "Date", "Modality", "Images")


class LabelObjectEntry(TypedDict, total=False):
    """A SEG or RTSTRUCT file drawn on a series, shown as a child row of it."""

    path: str
    modality: str  # SEG or RTSTRUCT
    label: str
    segments: int
    tool: str  # the writing tool (manufacturer, model, version)
    date: str  # DICOM DA


class SeriesEntry(TypedDict, total=False):
    uid: str
    number: int | None
    description: str
    modality: str
    count: int
    warnings: list[str]
    measured: bool
    objects: list[LabelObjectEntry]
    alone: LabelObjectEntry  # a SEG/RTSTRUCT whose images are not at hand, listed in place of a series


class StudyEntry(TypedDict, total=False):
    uid: str
    date: str  # DICOM DA, YYYYMMDD
    description: str
    series: list[SeriesEntry]


class PatientEntry(TypedDict, total=False):
    key: str  # opaque; the app's handle on the patient (never shown)
    name: str
    patient_id: str
    studies: list[StudyEntry]


def display_date(da: str) -> str:
    """YYYYMMDD as YYYY-MM-DD; anything else as it is."""
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}" if len(da) == 8 and da.isdigit() else da


def thumbnail_image(pixels: np.ndarray) -> QImage:
    """A QImage of a (rows, columns) uint8 array, copied so it outlives the array."""
    data = np.ascontiguousarray(pixels, dtype=np.uint8)
    rows, columns = data.shape
    return QImage(data.data, columns, rows, columns, QImage.Format.Format_Grayscale8).copy()


class LibraryBrowser(QWidget):
    """Tree of the studies on hand; emits the series the user picks."""

    seriesSelected = Signal(str)  # current series changed (show its tags)
    seriesActivated = Signal(str)  # double-click or Enter: open it
    labelObjectActivated = Signal(str, str)  # (series key or "" when not at hand, SEG/RTSTRUCT path): open it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hide_identity = False
        self._patients: list[PatientEntry] = []
        self._series_items: dict[str, QTreeWidgetItem] = {}
        self._alone_items: dict[str, QTreeWidgetItem] = {}  # SEG/RTSTRUCT rows without their series, by path
        self._thumbnails: dict[str, QIcon] = {}
        self.search = QLineEdit(placeholderText="Search name, ID, date, modality")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.tree.setIndentation(12)
        self.tree.setColumnWidth(0, 215)
        self.tree.setColumnWidth(1, 76)
        self.tree.setColumnWidth(2, 38)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self._apply_search)
        self.tree.currentItemChanged.connect(self._current_changed)
        self.tree.itemActivated.connect(self._activated)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self._warning_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)

    # -- content ----------------------------------------------------------------------
    def set_patients(self, patients: Sequence[PatientEntry]) -> None:
        """Replace the tree's content, keeping thumbnails already made and the search text."""
        self._patients = list(patients)
        self._rebuild()

    def _rebuild(self) -> None:
        current = self.current_series()
        self.tree.clear()
        self._series_items.clear()
        self._alone_items.clear()
        for n, patient in enumerate(self._patients, start=1):
            self.tree.addTopLevelItem(self._patient_item(n, patient))
        self.tree.expandAll()
        if current in self._series_items:
            self.tree.setCurrentItem(self._series_items[current])
        self._apply_search(self.search.text())

    def _patient_item(self, n: int, patient: PatientEntry) -> QTreeWidgetItem:
        name, pid = patient.get("name", ""), patient.get("patient_id", "")
        label = f"Patient {n}" if self._hide_identity else (f"{name} ({pid})" if pid else name or "(no name)")
        item = QTreeWidgetItem([label, "", "", ""])
        item.setData(0, KIND_ROLE, "patient")
        item.setData(0, KEY_ROLE, patient.get("key", ""))
        item.setData(0, SEARCH_ROLE, "" if self._hide_identity else f"{name} {pid}".lower())
        for study in patient.get("studies", []):
            item.addChild(self._study_item(study))
        return item

    def _study_item(self, study: StudyEntry) -> QTreeWidgetItem:
        series = study.get("series", [])
        modalities = sorted({s.get("modality", "") for s in series} - {""})
        date = study.get("date", "")
        item = QTreeWidgetItem([study.get("description") or "(study)", display_date(date), "/".join(modalities),
                                str(sum(s.get("count", 0) for s in series))])
        item.setData(0, KIND_ROLE, "study")
        item.setData(0, KEY_ROLE, study.get("uid", ""))
        item.setData(0, SEARCH_ROLE, f"{study.get('description', '')} {date} {display_date(date)}".lower())
        for entry in series:
            item.addChild(self._object_item(entry["alone"], alone=True) if "alone" in entry
                          else self._series_item(entry, date))
        return item

    def _series_item(self, series: SeriesEntry, date: str) -> QTreeWidgetItem:
        number = series.get("number")
        title = f"{number}: " if number is not None else ""
        title += series.get("description") or "(series)"
        warnings = series.get("warnings", [])
        if series.get("measured"):
            title += "  [measured]"
        item = QTreeWidgetItem([title, "", series.get("modality", ""), str(series.get("count", 0))])
        uid = series.get("uid", "")
        item.setData(0, KIND_ROLE, "series")
        item.setData(0, KEY_ROLE, uid)
        item.setData(0, SEARCH_ROLE, f"{series.get('description', '')} {series.get('modality', '')}".lower())
        tip = [f"Series UID {uid}"] + [f"Warning: {w}" for w in warnings]
        item.setToolTip(0, "\n".join(tip))
        if warnings:
            item.setIcon(2, self._warning_icon)
            item.setToolTip(2, "\n".join(warnings))
            item.setText(3, f"{series.get('count', 0)}  ({len(warnings)} warning{'s' if len(warnings) > 1 else ''})")
        if uid in self._thumbnails:
            item.setIcon(0, self._thumbnails[uid])
        for entry in series.get("objects", []):
            item.addChild(self._object_item(entry))
        self._series_items[uid] = item
        return item

    def _object_item(self, entry: LabelObjectEntry, alone: bool = False) -> QTreeWidgetItem:
        """A SEG/RTSTRUCT row: label and segment count, written by which tool and when; under its series, or
        ``alone`` in its study when its images are not at hand (then it opens on its own geometry)."""
        count = entry.get("segments", 0)
        title = f"{entry.get('label') or '(segmentation)'}: {count} segment{'' if count == 1 else 's'}"
        if alone:
            title += "  [images missing]"
        item = QTreeWidgetItem([title, display_date(entry.get("date", "")), entry.get("modality", ""), ""])
        item.setData(0, KIND_ROLE, "object")
        item.setData(0, KEY_ROLE, entry.get("path", ""))
        item.setData(0, SEARCH_ROLE, f"{entry.get('label', '')} {entry.get('modality', '')}".lower())
        action = ("open it on its own geometry (the images it was drawn on are not in the library)" if alone
                  else "open the series with these labels")
        item.setToolTip(0, "\n".join(line for line in (entry.get("path", ""), entry.get("tool", "")) if line)
                        + f"\nDouble-click: {action}")
        if alone:
            self._alone_items[entry.get("path", "")] = item
        return item

    def label_objects(self, series_uid: str) -> list[str]:
        """Paths of the SEG/RTSTRUCT rows listed under a series."""
        item = self._series_items[series_uid]
        return [item.child(n).data(0, KEY_ROLE) for n in range(item.childCount())]

    def object_item(self, series_uid: str, path: str) -> QTreeWidgetItem:
        """The row of a SEG/RTSTRUCT file under a series (``series_uid`` empty: listed alone)."""
        if not series_uid:
            return self._alone_items[path]
        item = self._series_items[series_uid]
        return next(item.child(n) for n in range(item.childCount()) if item.child(n).data(0, KEY_ROLE) == path)

    def set_thumbnail(self, series_uid: str, pixels: np.ndarray) -> None:
        """Show a (rows, columns) uint8 thumbnail beside the series."""
        icon = QIcon(QPixmap.fromImage(thumbnail_image(pixels)))
        self._thumbnails[series_uid] = icon
        if series_uid in self._series_items:
            self._series_items[series_uid].setIcon(0, icon)

    def has_thumbnail(self, series_uid: str) -> bool:
        return series_uid in self._thumbnails

    def series_uids(self) -> list[str]:
        return list(self._series_items)

    def visible_series(self) -> list[str]:
        return [uid for uid, item in self._series_items.items() if not item.isHidden()]

    def series_warnings(self, series_uid: str) -> str:
        return self._series_items[series_uid].toolTip(2)

    # -- identity ----------------------------------------------------------------------
    def set_hide_identity(self, hide: bool) -> None:
        if hide != self._hide_identity:
            self._hide_identity = hide
            self._rebuild()

    def patient_labels(self) -> list[str]:
        return [self.tree.topLevelItem(n).text(0) for n in range(self.tree.topLevelItemCount())]

    # -- selection and search ----------------------------------------------------------
    def current_series(self) -> str:
        item = self.tree.currentItem()
        return item.data(0, KEY_ROLE) if item is not None and item.data(0, KIND_ROLE) == "series" else ""

    def select_series(self, series_uid: str) -> None:
        if series_uid in self._series_items:
            self.tree.setCurrentItem(self._series_items[series_uid])

    def _current_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None and item.data(0, KIND_ROLE) == "series":
            self.seriesSelected.emit(item.data(0, KEY_ROLE))

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, KIND_ROLE) == "series":
            self.seriesActivated.emit(item.data(0, KEY_ROLE))
        elif item.data(0, KIND_ROLE) == "object":
            parent = item.parent()
            key = parent.data(0, KEY_ROLE) if parent.data(0, KIND_ROLE) == "series" else ""
            self.labelObjectActivated.emit(key, item.data(0, KEY_ROLE))

    def context_menu(self, item: QTreeWidgetItem) -> QMenu | None:
        """The menu of a series or SEG/RTSTRUCT row: open it (as a double-click does)."""
        if item.data(0, KIND_ROLE) not in ("series", "object"):
            return None
        menu = QMenu(self)
        text = "Open with its images" if item.data(0, KIND_ROLE) == "object" else "Open"
        menu.addAction(text, lambda: self._activated(item, 0))
        return menu

    def _context_menu(self, point: QPoint) -> None:
        item = self.tree.itemAt(point)
        menu = self.context_menu(item) if item is not None else None
        if menu is not None:
            menu.exec(self.tree.viewport().mapToGlobal(point))

    def _apply_search(self, text: str) -> None:
        """Show the series whose patient, study and series together match every word."""
        words = [w.replace("-", "") for w in text.lower().split()]
        for p in range(self.tree.topLevelItemCount()):
            patient = self.tree.topLevelItem(p)
            patient_shown = False
            for s in range(patient.childCount()):
                study = patient.child(s)
                study_shown = False
                for r in range(study.childCount()):
                    series = study.child(r)
                    haystack = " ".join(i.data(0, SEARCH_ROLE) for i in (patient, study, series))
                    haystack += " " + haystack.replace("-", "")
                    shown = all(w in haystack for w in words)
                    series.setHidden(not shown)
                    study_shown |= shown
                study.setHidden(not study_shown)
                patient_shown |= study_shown
            patient.setHidden(not patient_shown)
