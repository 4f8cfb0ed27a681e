"""A distribution's licence as its own metadata declares it, and whether it would bind us to the GPL.

Independent of ``resources/licences.json``: the tests read the installed
packages' ``License-Expression``, ``License`` and ``License ::`` classifiers
(and Debian's copyright files for system libraries) and compare our list with
them, so a hand-written entry cannot hide a GPL component.
"""

from __future__ import annotations

import re
from email.message import Message
from pathlib import Path

LESSER = re.compile(r"LGPL|Lesser General|Library General", re.I)
GPL = re.compile(r"GPL|General Public Licen[cs]e", re.I)
FAMILIES = [("LGPL", LESSER), ("GPL", GPL), ("Apache", re.compile(r"Apache", re.I)),
            ("BSD", re.compile(r"BSD", re.I)), ("MIT-CMU", re.compile(r"MIT-CMU|HPND|Historical Permission", re.I)),
            ("MIT", re.compile(r"\bMIT\b(?!-CMU)", re.I)), ("PSF", re.compile(r"PSF|Python Software Foundation", re.I)),
            ("MPL", re.compile(r"MPL|Mozilla Public License", re.I))]


def term_is_gpl(term: str) -> bool:
    """One licence without a choice: GPL or AGPL; LGPL is not, nor a GPL WITH an exception (GCC runtime, bootloader,
    classpath), which lets any program be distributed with it on its own terms."""
    term = term.strip("() ")
    if re.search(r"\swith\s", term, re.I) or LESSER.search(term):
        return False
    return bool(GPL.search(term))


def expression_is_gpl(expression: str) -> bool:
    """An SPDX-style expression binds us to the GPL when every alternative of its OR has a GPL term."""
    alternatives = re.split(r"\s+OR\s+", expression.strip(), flags=re.I)  # Debian writes "GPL-2+ or FTL"
    return all(any(term_is_gpl(term) for term in re.split(r"\s+AND\s+", alt, flags=re.I)) for alt in alternatives)


def declared(metadata: Message) -> list[str]:
    """What a distribution's metadata says about its licence: expression, licence field, licence classifiers."""
    fields = [metadata.get("License-Expression") or "", (metadata.get("License") or "").strip()]
    classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return [f for f in fields + classifiers if f]


def distribution_is_gpl(metadata: Message) -> bool:
    """Whether a distribution's own metadata leaves only a GPL licence.

    A licence expression decides alone; a licence field written as an
    expression with a choice (PySide6: LGPL-3.0 OR GPL) too; otherwise any GPL
    classifier or licence field counts, even beside "Other/Proprietary" (a
    commercial licence we do not hold: pylibjpeg-libjpeg).
    """
    expression = metadata.get("License-Expression")
    if expression:
        return expression_is_gpl(expression)
    text = (metadata.get("License") or "").strip()
    if " OR " in text and "\n" not in text:
        return expression_is_gpl(text)
    first_line = text.splitlines()[0] if text else ""  # some packages put the whole licence text here
    classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or []
                   if c.startswith("License ::")]
    return any(term_is_gpl(t) for t in [first_line, *classifiers] if t)


def families(text: str) -> set[str]:
    """Licence families named in ``text`` (GPL only where no LGPL wording explains the match)."""
    found = {name for name, pattern in FAMILIES if pattern.search(text)}
    if "LGPL" in found and not GPL.search(LESSER.sub("", text)):
        found.discard("GPL")
    return found


def debian_licences(package: str) -> list[str] | None:
    """The licences of a Debian package's ``Files: *`` paragraph (machine-readable copyright), or None."""
    path = Path("/usr/share/doc") / package / "copyright"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("Format:"):
        return None
    for paragraph in re.split(r"\n\s*\n", text):
        if re.search(r"^Files:\s*\*\s*$", paragraph, re.M):
            found = re.search(r"^License:\s*(.+)$", paragraph, re.M)
            return [found.group(1).strip()] if found else None
    return None
