"""Per-user folders: the library database, demo data and logs.

``platformdirs`` picks the platform's places; ``WORKSTATION_HOME`` moves all
of them under one folder, which tests and portable installs use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import platformdirs

APP_NAME = "workstation"


def _home() -> Path | None:
    value = os.environ.get("WORKSTATION_HOME")
    return Path(value) if value else None


def _folder(name: str, platform_dir: Callable[..., str]) -> Path:
    home = _home()
    path = home / name if home else Path(platform_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder for the library database and the demo study; created on first use."""
    return _folder("data", platformdirs.user_data_dir)


def log_dir() -> Path:
    return _folder("logs", platformdirs.user_log_dir)


def config_dir() -> Path:
    """Folder for settings the command line shares with the GUI (PACS nodes); created on first use."""
    return _folder("config", platformdirs.user_config_dir)


def received_dir() -> Path:
    """Where objects retrieved from a PACS or received by the listener are kept (the library indexes them here)."""
    return data_dir() / "received"


def library_path() -> Path:
    """The SQLite file of the study library."""
    return data_dir() / "library.sqlite"


def measurements_path() -> Path:
    """The SQLite file of the user's measurements: kept apart from the library, which is
    an index that may be rebuilt from the files, while measurements exist nowhere else."""
    return data_dir() / "measurements.sqlite"


def demo_dir() -> Path:
    return data_dir() / "demo"
