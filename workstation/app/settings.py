"""Settings kept between runs (QSettings) and the recent-items list.

Why not the platform default alone: ``WORKSTATION_HOME`` relocates all user
state for tests and portable installs, so settings follow it into an INI
file there; without it Qt's native place is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

from workstation.paths import APP_NAME

RECENT_KEY = "recent/items"
RECENT_LIMIT = 10


def app_settings() -> QSettings:
    """The program's settings store (an INI file under ``WORKSTATION_HOME`` when that is set)."""
    home = os.environ.get("WORKSTATION_HOME")
    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(home) / "settings.ini"), QSettings.Format.IniFormat)
    return QSettings(APP_NAME, APP_NAME)


def _as_list(value: object) -> list[str]:
    """QSettings returns a str for a one-item list from INI files, and None for none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


class RecentItems:
    """Most recent first, no repeats, at most ``RECENT_LIMIT``: folders opened or imported."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def items(self) -> list[str]:
        return _as_list(self.settings.value(RECENT_KEY))

    def add(self, path: str) -> list[str]:
        items = [path] + [p for p in self.items() if p != path]
        self.settings.setValue(RECENT_KEY, items[:RECENT_LIMIT])
        self.settings.sync()
        return self.items()

    def clear(self) -> None:
        self.settings.remove(RECENT_KEY)
        self.settings.sync()
