"""The series the window knows: planned volumes from the library and from folders opened without importing.

Why a plain class: the browser shows it, the loader loads from it and the
measurement store is keyed by it, and all of that is tested without Qt. A
DICOM series may hold several volumes (orientations, sizes): each gets its
own key, the series UID alone when it is the only one, else ``UID:n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workstation.dicom.assemble import SeriesPlan

UNKNOWN = "(unknown)"


@dataclass
class CatalogEntry:
    """One loadable volume and where it came from."""

    key: str
    plan: SeriesPlan
    source: str  # the folder it was opened from, or "library"

    @property
    def files(self) -> list[str]:
        return self.plan.files


def plan_keys(plans: list[SeriesPlan]) -> list[str]:
    """Keys for plans, numbering the volumes of a series that has several."""
    per_series: dict[str, int] = {}
    for plan in plans:
        per_series[plan.series_uid] = per_series.get(plan.series_uid, 0) + 1
    seen: dict[str, int] = {}
    keys = []
    for plan in plans:
        seen[plan.series_uid] = seen.get(plan.series_uid, 0) + 1
        several = per_series[plan.series_uid] > 1
        keys.append(f"{plan.series_uid}:{seen[plan.series_uid]}" if several else plan.series_uid)
    return keys


class Catalog:
    """Entries by key, in the order they arrived; adding a source again replaces its entries."""

    def __init__(self) -> None:
        self.entries: dict[str, CatalogEntry] = {}

    def add(self, plans: list[SeriesPlan], source: str) -> list[str]:
        """Add the plans found in ``source``; returns their keys."""
        self.entries = {k: e for k, e in self.entries.items() if e.source != source}
        keys = plan_keys(plans)
        for key, plan in zip(keys, plans, strict=True):
            self.entries[key] = CatalogEntry(key, plan, source)
        return keys

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> CatalogEntry:
        return self.entries[key]

    def patients(self, measured: Iterable[str] = (), objects: Sequence[dict] = ()) -> list[dict]:
        """The browser's tree (``widgets.library_browser.PatientEntry`` dicts): patient, study, series.

        ``objects`` (``Library.label_objects`` rows): each SEG/RTSTRUCT file is
        listed under every series it references that is catalogued, or, when
        none is, as a row of its own in its study (it opens on its own geometry).
        """
        measured = set(measured)
        patients: dict[tuple[str, str], dict] = {}
        studies: dict[tuple[tuple[str, str], str], dict] = {}

        def study_of(patient_id: str, patient_name: str, study_uid: str, date: str, description: str) -> dict:
            pkey = (patient_id, patient_name)
            patient = patients.setdefault(pkey, {"key": f"{patient_id}\x00{patient_name}",
                                                 "name": patient_name or UNKNOWN, "patient_id": patient_id,
                                                 "studies": []})
            if (pkey, study_uid) not in studies:
                studies[pkey, study_uid] = {"uid": study_uid, "date": date, "description": description, "series": []}
                patient["studies"].append(studies[pkey, study_uid])
            return studies[pkey, study_uid]

        listed = {entry.plan.series_uid for entry in self.entries.values()}
        for key, entry in self.entries.items():
            h = entry.plan.reference
            study_of(h.patient_id, h.patient_name, h.study_uid, h.study_date, h.study_description)["series"].append({
                "uid": key, "number": h.series_number,
                "description": entry.plan.description or h.series_description,
                "modality": h.modality, "count": entry.plan.slices * entry.plan.timepoints,
                "warnings": list(entry.plan.warnings), "measured": key in measured,
                "objects": [o for o in objects if entry.plan.series_uid in o["references"]],
            })
        for o in objects:
            if not listed.intersection(o["references"]):
                study_of(o["patient_id"], o["patient_name"], o["study_uid"], o["study_date"],
                         o["study_description"])["series"].append({
                    "uid": o["path"], "number": None, "description": o["label"], "modality": o["modality"],
                    "count": 0, "alone": o})
        for study in studies.values():
            study["series"].sort(key=lambda s: (s["number"] is None, s["number"] or 0, s["description"]))
        return list(patients.values())
