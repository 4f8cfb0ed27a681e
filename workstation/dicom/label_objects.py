"""Opening a DICOM SEG or RTSTRUCT file as label maps, with the images it was drawn on when they are at hand.

Why one place: the CLI (convert, info), experiments and the app all start
from a file path. A SEG opens on its referenced series when that series is
given or lies beside it, else on its own geometry; an RTSTRUCT (contours
carry no grid) needs its series. The referenced series is picked by the
SeriesInstanceUID the object names, never by guess.
"""

from __future__ import annotations

import struct
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.errors import DicomError
from workstation.jobs import CancelFlag, Progress, scaled_progress

if TYPE_CHECKING:  # label maps and volumes import SimpleITK: ``object_kind`` (info, the library) must not pay for it
    import pydicom

    from workstation.labels import LabelMap
    from workstation.volume import Volume

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
LABEL_MAP_SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.7"
SEG_CLASSES = (SEG_STORAGE, LABEL_MAP_SEG_STORAGE)
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
LABEL_OBJECT_CLASSES = {SEG_STORAGE: "SEG", LABEL_MAP_SEG_STORAGE: "SEG", RTSTRUCT_STORAGE: "RTSTRUCT"}
DAMAGE = (AttributeError, KeyError, IndexError, TypeError, ValueError, OSError, EOFError, MemoryError, OverflowError,
          NotImplementedError, RecursionError, struct.error)
"""What pydicom raises, lazily while values are first read, for a damaged file (its own errors derive from
these). Found by tests/reliability/test_fuzz.py."""


def referenced_series(dataset: pydicom.Dataset) -> list[str]:
    """The SeriesInstanceUIDs a SEG or RTSTRUCT says it was made on."""
    uids = [str(item.SeriesInstanceUID) for item in dataset.get("ReferencedSeriesSequence", [])
            if "SeriesInstanceUID" in item]
    for frame_ref in dataset.get("ReferencedFrameOfReferenceSequence", []):  # RTSTRUCT
        for study in frame_ref.get("RTReferencedStudySequence", []):
            uids += [str(s.SeriesInstanceUID) for s in study.get("RTReferencedSeriesSequence", [])
                     if "SeriesInstanceUID" in s]
    return list(dict.fromkeys(uids))


def read_references(path: str | PathLike[str]) -> list[str]:
    """The series a SEG or RTSTRUCT file references, from its header (empty when it names none or is damaged)."""
    return read_summary(path)["referenced_series_uids"]  # type: ignore[return-value]


_SUMMARY_TAGS = ["ReferencedSeriesSequence", "ReferencedFrameOfReferenceSequence", "SegmentSequence",
                 "StructureSetROISequence", "SeriesDescription", "ContentLabel", "StructureSetLabel", "Manufacturer",
                 "ManufacturerModelName", "SoftwareVersions", "ContentDate", "StructureSetDate", "SeriesDate"]


def read_summary(path: str | PathLike[str]) -> dict[str, object]:
    """What the library lists of a SEG or RTSTRUCT file, from its header: the series it references, its label,
    its segment count, the tool that wrote it and the date (empty values when the header is damaged)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=_SUMMARY_TAGS)
        segments = ds.get("SegmentSequence") or ds.get("StructureSetROISequence") or []
        tool = " ".join(v for v in dict.fromkeys(str(ds.get(k, "")).strip() for k in (
            "Manufacturer", "ManufacturerModelName", "SoftwareVersions")) if v)
        return {"referenced_series_uids": referenced_series(ds),
                "label": next((str(ds.get(k, "")) for k in ("SeriesDescription", "StructureSetLabel", "ContentLabel")
                               if str(ds.get(k, "")).strip()), ""),
                "segments": len(segments), "tool": tool,
                "date": next((str(ds.get(k, "")) for k in ("ContentDate", "StructureSetDate", "SeriesDate")
                              if str(ds.get(k, "")).strip()), "")}
    except Exception:  # noqa: BLE001 - a damaged reference names nothing; reading the object will say why
        return {"referenced_series_uids": [], "label": "", "segments": 0, "tool": "", "date": ""}


def object_kind(path: str | PathLike[str]) -> str | None:
    """"SEG" or "RTSTRUCT" for such a DICOM file, else None (from the header alone; never raises)."""
    from workstation.dicom.header import read_header  # the scanner's fast reader: no pydicom import for others

    try:
        sop_class = read_header(path).sop_class_uid
    except Exception:  # noqa: BLE001 - anything unreadable is simply not one of ours
        return None
    return LABEL_OBJECT_CLASSES.get(sop_class)


def find_reference(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str],
                   where: str | PathLike[str] | None = None) -> Volume | None:
    """The series a SEG/RTSTRUCT references, loaded from ``where`` (default: the object's own folder).

    None when no series there is referenced. ``where`` given by a user
    must hold it: a DicomError says so otherwise.
    """
    from workstation.dicom.load import load_plan, plan_volumes

    wanted = read_references(path)
    folder = Path(where) if where is not None else Path(path).parent
    plans = [p for p in plan_volumes(scaled_progress(progress, 0.0, 0.3), cancel, folder) if p.series_uid in wanted]
    if not plans:
        if where is not None:
            raise DicomError("holds none of the series the segmentation references", folder)
        return None
    return load_plan(scaled_progress(progress, 0.3, 1.0), cancel, plans[0])


def read_label_object(path: str | PathLike[str], reference: Volume | None = None) -> list[LabelMap]:
    """The label maps of a SEG (on ``reference``'s grid or its own) or an RTSTRUCT (on ``reference``'s grid)."""
    from workstation.dicom.rtstruct import read_rtstruct
    from workstation.dicom.seg import read_seg

    kind = object_kind(path)
    if kind == "SEG":
        return read_seg(path, reference)
    if kind == "RTSTRUCT":
        if reference is None:
            raise DicomError("the structure set's images are not loaded (contours need the grid of their images)",
                             path)
        return read_rtstruct(path, reference)
    raise DicomError("neither a DICOM Segmentation nor an RT Structure Set", path)


def open_label_object(progress: Progress, cancel: CancelFlag | None, path: str | PathLike[str],
                      where: str | PathLike[str] | None = None) -> list[LabelMap]:
    """``read_label_object`` with the referenced series found in ``where`` or beside the file; a job."""
    reference = find_reference(scaled_progress(progress, 0.0, 0.8), cancel, path, where)
    maps = read_label_object(path, reference)
    progress(1.0, "segmentation read")
    return maps
