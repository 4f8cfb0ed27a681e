"""Answer C-FIND and C-GET from the study library, so other programs can query and fetch what we hold.

Matching follows the standard's rules for the keys a viewer uses: ``*`` and
``?`` wildcards (case-insensitive, as most archives do for names), date
ranges ``A-B``, ``A-`` and ``-B``, and lists of UIDs separated by ``\\``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

from pydicom.dataset import Dataset

from workstation.dicom.library import Library, PatientRow, SeriesRow, StudyRow

LEVELS = ("PATIENT", "STUDY", "SERIES")


def _matches(value: str, pattern: str, keyword: str) -> bool:
    if pattern in ("", "*"):
        return True
    if keyword.endswith("Date") and "-" in pattern:
        start, _, end = pattern.partition("-")
        return bool(value) and (not start or value >= start) and (not end or value <= end)
    if keyword.endswith("UID"):
        return value in pattern.split("\\")
    if keyword == "ModalitiesInStudy":
        return any(fnmatch.fnmatchcase(m.upper(), p.upper()) for m in value.split("\\") for p in pattern.split("\\"))
    return fnmatch.fnmatchcase(value.upper(), pattern.upper())


def _values(patient: PatientRow, study: StudyRow | None, series: SeriesRow | None) -> dict[str, object]:
    values: dict[str, object] = {"PatientName": patient.patient_name, "PatientID": patient.patient_id,
                                 "PatientBirthDate": patient.birth_date, "PatientSex": patient.sex,
                                 "NumberOfPatientRelatedStudies": len(patient.studies)}
    if study is not None:
        values.update(StudyInstanceUID=study.study_uid, StudyDate=study.study_date, StudyTime=study.study_time,
                      StudyDescription=study.description, AccessionNumber=study.accession_number,
                      ModalitiesInStudy="\\".join(sorted({s.modality for s in study.series if s.modality})),
                      NumberOfStudyRelatedSeries=len(study.series),
                      NumberOfStudyRelatedInstances=sum(s.instances for s in study.series))
    if series is not None:
        values.update(SeriesInstanceUID=series.series_uid, Modality=series.modality,
                      SeriesNumber="" if series.series_number is None else str(series.series_number),
                      SeriesDescription=series.description, NumberOfSeriesRelatedInstances=series.instances)
    return values


def find(library: Library, identifier: Dataset) -> Iterator[Dataset]:
    """The matches of a C-FIND identifier at patient, study or series level, with the keys it asked for."""
    level = str(identifier.get("QueryRetrieveLevel", "")).upper()
    if level not in LEVELS:
        raise ValueError(f"query level {level or '(none)'} not served")
    keys = [elem.keyword for elem in identifier if elem.keyword and elem.keyword != "QueryRetrieveLevel"]
    wanted = {k: "" if identifier[k].value is None else str(identifier[k].value) for k in keys}
    for patient in library.tree():
        rows = [(patient, None, None)] if level == "PATIENT" else [
            (patient, study, series) for study in patient.studies
            for series in (study.series if level == "SERIES" else [None])]
        for row in rows:
            values = _values(*row)
            if all(_matches(str(values.get(k, "")), pattern, k) for k, pattern in wanted.items() if k in values):
                ds = Dataset()
                ds.QueryRetrieveLevel = level
                for k in keys:
                    setattr(ds, k, values.get(k, ""))
                yield ds


def files(library: Library, identifier: Dataset) -> list[str]:
    """The files a C-GET identifier asks for (a study, series or instances we hold)."""
    study_uid = str(identifier.get("StudyInstanceUID", ""))
    series_uids = [u for u in str(identifier.get("SeriesInstanceUID", "")).split("\\") if u]
    sop_uids = {u for u in str(identifier.get("SOPInstanceUID", "")).split("\\") if u}
    if not study_uid:
        return []
    return [path for series, sop, path in library.instances(study_uid)
            if (not series_uids or series in series_uids) and (not sop_uids or sop in sop_uids)]
