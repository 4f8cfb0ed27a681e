"""Logging to a rotated file in the user log folder.

Tracebacks belong here, never on a user's screen. Nothing logged may carry a
patient identifier: log file names, UIDs are allowed, names and IDs are not.
"""

from __future__ import annotations

import logging
import logging.handlers

from workstation import paths

_configured = False


def setup_logging(level: int = logging.INFO) -> logging.Logger:
    """Send the ``workstation`` loggers to ``workstation.log`` (1 MB x 5); idempotent."""
    global _configured
    logger = logging.getLogger("workstation")
    if not _configured:
        handler = logging.handlers.RotatingFileHandler(
            paths.log_dir() / "workstation.log", maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
        _configured = True
    return logger


def log_file() -> str:
    return str(paths.log_dir() / "workstation.log")
