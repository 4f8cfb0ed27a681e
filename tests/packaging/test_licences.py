"""The credited components and their licences (``resources/licences.json``) against the installed packages' own
metadata, packaging/LICENSES.md and the About dialog; nothing credited as bundled may be GPL.

The bundle itself (everything PyInstaller put in it, credited or not) is checked in test_bundle.py.
"""

from __future__ import annotations

import re
from importlib.metadata import metadata
from pathlib import Path

import pytest
from licence_terms import distribution_is_gpl, expression_is_gpl, families

from workstation.app.about import about_html
from workstation.licences import components, system_packages

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [c for c in components() if c.bundled]


def _table_rows(markdown: str, header: str) -> list[list[str]]:
    """Cells of the rows of the markdown table whose header row starts with ``| header |``."""
    lines = markdown.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


@pytest.mark.parametrize("component", [c for c in components() if c.distribution], ids=lambda c: c.distribution)
def test_each_credited_licence_is_the_one_the_package_declares(component) -> None:
    declared = metadata(component.distribution)
    texts = [declared.get("License-Expression") or "", declared.get("License") or "",
             *[c for c in declared.get_all("Classifier") or [] if c.startswith("License ::")]]
    first_term = re.split(r"\s+(?:AND|OR)\s+", component.licence)[0]
    assert families(first_term), component.licence
    assert families(first_term) <= families(" ".join(texts)), (component.licence, texts)


@pytest.mark.parametrize("component", BUNDLED, ids=lambda c: c.name)
def test_nothing_credited_as_bundled_is_gpl(component) -> None:
    assert not expression_is_gpl(component.licence)
    if component.distribution:
        assert not distribution_is_gpl(metadata(component.distribution))


def test_the_gpl_reading_catches_a_gpl_package_and_spares_lgpl_choices_and_exceptions() -> None:
    assert expression_is_gpl("GPL-3.0-only") and expression_is_gpl("MIT AND GPL-2.0-or-later")
    assert not expression_is_gpl("LGPL-3.0-only OR GPL-2.0-only OR GPL-3.0-only")  # PySide6: we take the LGPL
    assert not expression_is_gpl("GPL-3.0-or-later WITH GCC-exception-3.1")
    assert not expression_is_gpl("LGPL-2.1-or-later") and not expression_is_gpl("BSD-3-Clause")
    libjpeg = metadata("pydicom")  # a real metadata object, its licence fields replaced by pylibjpeg-libjpeg's
    for field in ("License", "License-Expression", "Classifier"):
        del libjpeg[field]
    libjpeg["License"] = "GPL V3.0"
    libjpeg["Classifier"] = "License :: OSI Approved :: GNU General Public License v3 (GPLv3)"
    libjpeg["Classifier"] = "License :: Other/Proprietary License"
    assert distribution_is_gpl(libjpeg)


def test_licenses_md_lists_every_bundled_component_with_the_same_licence() -> None:
    text = (ROOT / "packaging" / "LICENSES.md").read_text(encoding="utf-8")
    assert {(row[0], row[1]) for row in _table_rows(text, "component")} == {(c.name, c.licence) for c in BUNDLED}
    assert {(row[0], row[1]) for row in _table_rows(text, "Debian package")} == set(system_packages().items())
    assert "pylibjpeg-libjpeg" not in {c.distribution for c in components()}


def test_the_about_dialog_lists_every_component_with_its_licence() -> None:
    html = about_html()
    for component in components():
        assert f"<td>{component.name}</td>" in html and component.licence in html
    for package, licence in system_packages().items():
        assert f"<td>{package}</td><td>{licence}</td>" in html
