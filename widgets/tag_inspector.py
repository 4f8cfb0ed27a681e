"""The DICOM tag tree of the selected image, with a filter and the identity switch.

Widgets do not read DICOM: the app hands over a plain tree of dicts
(``tag``, ``name``, ``vr``, ``value``, ``identifying``, ``children``), as
``workstation.dicom.tags`` makes it. Identifying values are masked while the
identity switch is on, so a screenshot or a screen share shows no names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

HIDDEN = "(hidden)"
COLUMNS = ("Tag", "Name", "VR", "Value")
IDENTIFYING_ROLE = Qt.ItemDataRole.UserRole + 1
VALUE_ROLE = Qt.ItemDataRole.UserRole + 2


class TagInspector(QWidget):
    """A filterable tree of (tag, name, VR, value)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hide_identity = False
        self.title = QLabel("No image selected")
        self.filter = QLineEdit(placeholderText="Filter tags (name, tag or value)")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(1, 150)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.filter.textChanged.connect(self._apply_filter)

    def set_tree(self, nodes: Sequence[Mapping[str, Any]], title: str = "") -> None:
        """Show a new tag tree; ``title`` names the image (a file name, never a patient)."""
        self.tree.clear()
        self.tree.addTopLevelItems([self._item(node) for node in nodes])
        self.title.setText(title or "No image selected")
        self._apply_filter(self.filter.text())

    def clear(self) -> None:
        self.set_tree([], "")

    def _item(self, node: Mapping[str, Any]) -> QTreeWidgetItem:
        item = QTreeWidgetItem([node["tag"], node["name"], node["vr"], ""])
        item.setData(0, IDENTIFYING_ROLE, bool(node.get("identifying")))
        item.setData(0, VALUE_ROLE, node["value"])
        self._show_value(item)
        item.addChildren([self._item(child) for child in node.get("children", [])])
        return item

    def _show_value(self, item: QTreeWidgetItem) -> None:
        value = item.data(0, VALUE_ROLE)
        masked = self._hide_identity and item.data(0, IDENTIFYING_ROLE) and value and item.childCount() == 0
        item.setText(3, HIDDEN if masked else value)
        item.setToolTip(3, "" if masked else value)

    def _items(self) -> list[QTreeWidgetItem]:
        out: list[QTreeWidgetItem] = []
        stack = [self.tree.topLevelItem(n) for n in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop()
            out.append(item)
            stack.extend(item.child(n) for n in range(item.childCount()))
        return out

    def set_hide_identity(self, hide: bool) -> None:
        self._hide_identity = hide
        for item in self._items():
            self._show_value(item)
        self._apply_filter(self.filter.text())

    def value_of(self, tag: str) -> str | None:
        """The shown value of a top-level tag such as ``"(0010,0010)"`` (tests, copy)."""
        for n in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(n)
            if item.text(0) == tag:
                return item.text(3)
        return None

    def _apply_filter(self, text: str) -> None:
        """Show the items whose tag, name or shown value contain the text, with their ancestors."""
        needle = text.strip().lower()

        def visit(item: QTreeWidgetItem) -> bool:
            children = [visit(item.child(n)) for n in range(item.childCount())]
            own = not needle or any(needle in item.text(c).lower() for c in (0, 1, 3))
            shown = own or any(children)
            item.setHidden(not shown)
            return shown

        for n in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(n))
