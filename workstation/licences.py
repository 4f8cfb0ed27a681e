"""The components the program is built from and their licences: one list, ``resources/licences.json``.

Why a data file: the About dialog, ``packaging/LICENSES.md`` (the long form
installed as the .deb's copyright file) and the bundle's licence test must
name the same components with the same licences. The dialog reads this list;
tests check LICENSES.md and the installed packages' own metadata against it,
and the bundle test checks that everything PyInstaller put in the bundle is
on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from workstation.resources import resource


@dataclass(frozen=True)
class Component:
    """One credited component: its PyPI distribution (None for what is not installed from PyPI)."""

    name: str
    licence: str  # SPDX expression
    distribution: str | None = None
    note: str = ""
    bundled: bool = True  # False: credited, but only in a pip install (the experiments)


@cache
def _data() -> dict:
    return json.loads(resource("licences.json").read_text(encoding="utf-8"))


def program_licence() -> str:
    return _data()["program"]["licence"]


def components() -> list[Component]:
    return [Component(**entry) for entry in _data()["components"]]


def system_packages() -> dict[str, str]:
    """Debian package -> licence, for the shared libraries the Linux bundle copies from the build machine."""
    return dict(_data()["system"]["packages"])
