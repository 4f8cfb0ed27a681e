"""A DICOM dataset as a plain tree of (tag, name, VR, value) for the tag inspector.

Widgets may not import pydicom, so the app turns the selected image's header
into plain dicts here and hands the tree to ``widgets.tag_inspector``. Each
node says whether it identifies the patient, so the inspector can hide those
values when the identity switch is on; the values never go to a log.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from workstation.errors import DicomError

if TYPE_CHECKING:
    import pydicom
    from pydicom.dataelem import DataElement

MAX_VALUE_CHARS = 200
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}

# Attributes whose values identify a person (PS3.15 E.1 basic profile, the parts a viewer shows).
IDENTIFYING_KEYWORDS = frozenset({
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs",
    "OtherPatientNames", "OtherPatientIDsSequence", "PatientBirthName", "PatientMotherBirthName",
    "PatientAddress", "PatientTelephoneNumbers", "MilitaryRank", "MedicalRecordLocator",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "AccessionNumber", "InstitutionName",
    "InstitutionAddress", "StationName", "IssuerOfPatientID", "PatientInsurancePlanCodeSequence",
    "ResponsiblePerson", "EthnicGroup", "PatientComments", "AdditionalPatientHistory",
})


class TagNode(TypedDict):
    """One element (or one sequence item, with an empty tag) of the tree."""

    tag: str
    name: str
    vr: str
    value: str
    identifying: bool
    children: list[TagNode]


def _value_text(element: DataElement) -> str:
    """A short, one-line rendering: binary data as its size, long text cut."""
    from pydicom.multival import MultiValue  # deferred: faster start-up
    value = element.value
    if element.VR in BINARY_VRS or isinstance(value, (bytes, bytearray)):
        size = len(value) if isinstance(value, (bytes, bytearray)) else 0
        return f"<binary, {size} bytes>"
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _element_node(element: DataElement, inherited_identifying: bool) -> TagNode:
    identifying = inherited_identifying or element.keyword in IDENTIFYING_KEYWORDS
    node: TagNode = {
        "tag": f"({element.tag.group:04X},{element.tag.element:04X})",
        "name": element.name, "vr": str(element.VR), "value": "", "identifying": identifying, "children": [],
    }
    if element.VR == "SQ":
        items = element.value or []
        node["value"] = f"{len(items)} item{'s' if len(items) != 1 else ''}"
        node["children"] = [
            {"tag": "", "name": f"Item {n}", "vr": "", "value": "", "identifying": identifying,
             "children": dataset_tree(item, identifying)}
            for n, item in enumerate(items, start=1)
        ]
    else:
        node["value"] = _value_text(element)
    return node


def dataset_tree(ds: pydicom.Dataset, identifying: bool = False) -> list[TagNode]:
    """The elements of ``ds`` (file meta first when present) as nested plain dicts."""
    nodes: list[TagNode] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None and not identifying:
        nodes.extend(_element_node(element, False) for element in meta)
    nodes.extend(_element_node(element, identifying) for element in ds)
    return nodes


def file_tree(path: str | PathLike[str]) -> list[TagNode]:
    """Read one file's header (no pixels, read-only) and return its tag tree."""
    import pydicom  # deferred: faster start-up
    from pydicom.errors import InvalidDicomError
    p = Path(path)
    try:
        with open(p, "rb") as f:
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=False)
    except InvalidDicomError as exc:
        raise DicomError(f"not a DICOM file ({exc})", p) from exc
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as exc:
        raise DicomError(f"unreadable DICOM header ({type(exc).__name__}: {exc})", p) from exc
    return dataset_tree(ds)
