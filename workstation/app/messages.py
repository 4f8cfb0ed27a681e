"""The message log: one line per error or notice, newest last; tracebacks stay in the log file.

Why: a failed file among hundreds must not stop the work nor pop up a dialog
each time, yet the user must be able to see what went wrong and where.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from workstation.errors import WorkstationError

log = logging.getLogger("workstation.app")

LIMIT = 500


def one_line(error: BaseException) -> str:
    """The message a user sees: a ``WorkstationError`` as it is, anything else by its type only."""
    if isinstance(error, WorkstationError):
        return str(error)
    return f"internal error ({type(error).__name__}); details in the log file"


class MessageLog(QListWidget):
    """The list of messages; ``added`` carries each new line for the status bar."""

    added = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(False)

    def add(self, text: str, level: int = logging.WARNING) -> None:
        line = " ".join(text.split())
        stamp = time.strftime("%H:%M:%S")
        item = QListWidgetItem(f"{stamp}  {line}")
        item.setData(256, level)
        self.addItem(item)
        while self.count() > LIMIT:
            self.takeItem(0)
        self.scrollToBottom()
        self.added.emit(line)

    def add_error(self, error: BaseException, context: str = "") -> None:
        """Log the error with its traceback to the file; show one line here."""
        if not isinstance(error, WorkstationError):
            log.error("%s failed", context or "a task", exc_info=error)
        line = one_line(error)
        self.add(f"{context}: {line}" if context else line, logging.ERROR)

    def lines(self) -> list[str]:
        return [self.item(n).text().split("  ", 1)[1] for n in range(self.count())]
