"""A small real study (CIRS CT and MR slices) with identity planted everywhere it can hide.

The copies carry distinctive names, IDs, addresses and device numbers in
top-level attributes, inside nested sequences, in private elements and
private sequences, in overlay and curve groups and in the file meta, plus
cross-series UID references, so an anonymiser test can look for every one
of them in the output. The planted values are written here, not derived from
the anonymiser's own table, so the test checks the table too.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

PLANTED = {
    "PatientName": "PLANTEDSURNAME^SECRETGIVEN",
    "PatientID": "PID-7731-SECRET",
    "PatientBirthDate": "19530412",
    "PatientBirthTime": "071500",
    "OtherPatientIDs": "ALTID-99812",
    "OtherPatientNames": "MAIDEN^PLANTEDNAME",
    "PatientBirthName": "BIRTH^PLANTEDNAME",
    "PatientMotherBirthName": "MOTHER^PLANTEDNAME",
    "PatientAddress": "12 Secretive Lane, Hiddentown",
    "PatientTelephoneNumbers": "555-0199-7788",
    "MedicalRecordLocator": "MRL-PLANTED-1",
    "PatientAge": "071Y",
    "PatientComments": "lives next to the planted bakery",
    "AdditionalPatientHistory": "planted history of secrets",
    "InstitutionName": "Saint Planted Hospital",
    "InstitutionAddress": "1 Hospital Road, Plantedcity",
    "InstitutionalDepartmentName": "Planted Radiology Dept",
    "ReferringPhysicianName": "REFDOC^PLANTEDREF",
    "PerformingPhysicianName": "PERFDOC^PLANTEDPERF",
    "NameOfPhysiciansReadingStudy": "READER^PLANTEDREAD",
    "OperatorsName": "OPERATOR^PLANTEDOP",
    "PhysiciansOfRecord": "RECORD^PLANTEDREC",
    "StationName": "PLANTSTATION01",
    "DeviceSerialNumber": "SN-PLANTED-4471",
    "AccessionNumber": "ACC-PLANT-88",
    "StudyID": "STUDYPLANT7",
    "StudyDescription": "PLANTED STUDY DESCRIPTION",
    "SeriesDescription": "PLANTED SERIES DESCRIPTION",
    "ImageComments": "image shows PLANTEDSURNAME",
    "RequestingPhysician": "REQUESTER^PLANTEDREQ",
    "AdmissionID": "ADM-PLANTED-5",
    "ProtocolName": "PLANTED PROTOCOL 42",
}
NESTED = {
    "RequestedProcedureID": "REQPROC-PLANTED",
    "ScheduledProcedureStepID": "SPS-PLANTED-9",
    "NestedPatientID": "NESTED-PID-PLANTED",
    "PrivateName": "PRIVATE-PLANTED-NAME",
    "PrivateNestedName": "PRIVATE-NESTED-PLANTED",
    "OverlayText": "OVERLAY-PLANTED",
    "CurveText": "CURVE-PLANTED",
    "SourceAE": "PLANTEDAE",
    "ContentText": "CONTENT-PLANTED-PERSON",
}


def _copy(src_files: list[Path], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(f, dest / f"{dest.name}-{n}.dcm")) for n, f in enumerate(src_files)]


def _plant(ds: Dataset) -> None:
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    request = Dataset()
    request.RequestedProcedureID = NESTED["RequestedProcedureID"]
    request.ScheduledProcedureStepID = NESTED["ScheduledProcedureStepID"]
    ds.RequestAttributesSequence = Sequence([request])
    other = Dataset()
    other.PatientID = NESTED["NestedPatientID"]
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    block = ds.private_block(0x0011, "PLANTED CREATOR", create=True)
    block.add_new(0x01, "LO", NESTED["PrivateName"])
    inner = Dataset()
    inner.PatientName = NESTED["PrivateNestedName"]
    block.add_new(0x02, "SQ", Sequence([inner]))
    ds.add(DataElement(0x60003000, "OW", NESTED["OverlayText"].encode() + b"\x00"))
    ds.add(DataElement(0x60004000, "LT", NESTED["OverlayText"]))
    ds.add(DataElement(0x50000022, "LO", NESTED["CurveText"]))
    content = Dataset()
    content.PersonName = NESTED["ContentText"]
    content.ValueType = "PNAME"
    ds.ContentSequence = Sequence([content])
    ds.file_meta.SourceApplicationEntityTitle = NESTED["SourceAE"]


def _reference(ds: Dataset, keyword: str, target: Dataset) -> None:
    item = Dataset()
    item.ReferencedSOPClassUID = target.SOPClassUID
    item.ReferencedSOPInstanceUID = target.SOPInstanceUID
    setattr(ds, keyword, Sequence([item]))


def make_study(ct_folder: Path, mr_folder: Path, dest: Path, n_ct: int = 3, n_mr: int = 2) -> list[Path]:
    """Copies of ``n_ct`` CT and ``n_mr`` MR slices with planted identity and cross-references.

    The MR slices join the CT's study. CT slice 2 references CT slice 1 (Referenced Image Sequence); the first MR
    slice names CT slice 1 as its source (Source Image Sequence); the second MR
    slice says BurnedInAnnotation YES.
    """
    ct = _copy(sorted(ct_folder.iterdir())[:n_ct], dest / "ct")
    mr = _copy(sorted(mr_folder.iterdir())[:n_mr], dest / "mr")
    datasets = {p: pydicom.dcmread(p) for p in ct + mr}
    for ds in datasets.values():
        _plant(ds)
    first_ct = datasets[ct[0]]
    for path in mr:  # one study of two series, as a scanner session would give
        datasets[path].StudyInstanceUID = first_ct.StudyInstanceUID
    _reference(datasets[ct[1]], "ReferencedImageSequence", first_ct)
    _reference(datasets[mr[0]], "SourceImageSequence", first_ct)
    datasets[mr[1]].BurnedInAnnotation = "YES"
    for path, ds in datasets.items():
        ds.save_as(path)
    return ct + mr


def walk(ds: Dataset) -> Iterator[DataElement]:
    """Every element of ``ds``, its file meta and every sequence item, depth first."""
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from meta
    yield from _walk_items(ds)


def _walk_items(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        yield elem
        if elem.VR == "SQ":
            for item in elem.value or ():
                yield from _walk_items(item)


def values_of(elem: DataElement) -> list[str]:
    """The element's value(s) as strings (multi-values split)."""
    value = elem.value
    if value is None or elem.VR == "SQ":
        return []
    if isinstance(value, bytes):
        return []
    items = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
    return [str(v) for v in items if str(v)]


def sha256_tree(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
