"""Anonymised copies of a study: the DICOM PS3.15 Basic Application Level Confidentiality Profile.

Why a module of its own: sharing images outside the hospital must not leak
who the patient is, and must not break the study (series still group, images
still reference each other). The profile's action table lives as data in
``resources/deid/basic_profile.json``; this module applies it to every
element, recursively through sequences, and rebuilds the file meta.

Actions: X remove, Z empty, D dummy value, K keep, U new UID. New UIDs are
``2.25.<int>`` from an HMAC of the original UID with a per-export secret
salt, so one original UID maps to the same new UID in every file (and every
sequence) of the export, while nobody without the salt can link them back.
Beyond the table, as safety nets: every private element, curve and overlay
group is removed; every person name not kept is emptied; every date, time or
datetime not in the table is removed unless dates are retained; every UID
that is not a well-known DICOM UID is remapped unless UIDs are retained.

Sources are opened read-only; the output is staged (``staging``), so a
cancelled or failed export leaves nothing half written.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID_dictionary

from workstation.dicom import tagscan
from workstation.dicom.staging import staged_folder
from workstation.errors import DicomError, Skipped, WorkstationError
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.resources import resource

log = logging.getLogger("workstation.dicom.anonymise")

PROFILE_FILE = ("deid", "basic_profile.json")
TEMPORAL_VRS = {"DA", "DT", "TM"}
TEXT_VRS = {"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}
# Dummy values for action D: valid for their VR and identifying no one.
DUMMIES = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "CS": "ANONYMOUS",
           "IS": "0", "DS": "0", "UI": None}
DUMMY_TEXT = "ANONYMOUS"
# Modalities and SOP classes whose pixels commonly carry burned-in text (names, dates).
BURNED_IN_MODALITIES = {"US", "SC", "XC", "ES", "OT", "DOC", "GM", "SM", "IVUS"}
BURNED_IN_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.7",      # secondary capture family
    "1.2.840.10008.5.1.4.1.1.3.1",    # ultrasound multi-frame
    "1.2.840.10008.5.1.4.1.1.6.",     # ultrasound
    "1.2.840.10008.5.1.4.1.1.77.1.",  # visible light
    "1.2.840.10008.5.1.4.1.1.104.",   # encapsulated documents
)


@dataclass(frozen=True)
class AnonymisationOptions:
    """What the export keeps; the defaults are the plain Basic Profile.

    ``salt`` keys the UID mapping: a fresh random one per export unless given
    (give the same salt to keep UIDs consistent across several exports of
    one subject). ``pseudonym`` fills Patient's Name and Patient ID, which
    the profile otherwise empties, so the copies still group as one patient.
    """

    retain_uids: bool = False
    retain_dates: bool = False
    pseudonym: str = ""
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)


@dataclass
class AnonymisationReport:
    """What an export wrote and what a person must still check; holds no identifiers."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    burned_in: list[str] = field(default_factory=list)        # written files whose pixels may show identity
    uids_remapped: int = 0
    retain_uids: bool = False
    retain_dates: bool = False

    def summary(self) -> str:
        return (f"{len(self.written)} files written to {self.out_dir}, {len(self.skipped)} skipped, "
                f"{len(self.burned_in)} flagged for burned-in annotation, {self.uids_remapped} UIDs remapped")


@dataclass(frozen=True)
class Rule:
    action: str          # the resolved single action: X, Z, D, K, U
    name: str


@lru_cache(maxsize=1)
def _profile() -> dict:
    with open(resource(*PROFILE_FILE), encoding="utf-8") as f:
        return json.load(f)


def resolve(action: str) -> str:
    """One action for a table entry, without knowing the IOD's attribute type.

    The table's compound actions choose by type (1: D, 2: Z, 3: X). A dummy is
    valid for every type and identifies no one, so any choice that offers D
    takes D; X/Z takes Z (valid for types 2 and 3); X/Z/U* keeps a reference
    sequence and remaps the UIDs in it.
    """
    if "U" in action:
        return "U"
    if "D" in action:
        return "D"
    if "Z" in action:
        return "Z"
    return action[0]


@lru_cache(maxsize=4)
def rules(retain_uids: bool, retain_dates: bool) -> tuple[dict[int, Rule], dict[str, Rule]]:
    """Tag -> rule for exact tags, mask -> rule for repeating groups (``50xxxxxx``), with options applied."""
    exact: dict[int, Rule] = {}
    masks: dict[str, Rule] = {}
    for row in _profile()["attributes"]:
        action = row["basic"]
        if retain_uids and "retain_uids" in row:
            action = row["retain_uids"]
        if retain_dates and "retain_dates" in row:
            action = row["retain_dates"]
        rule = Rule(resolve(action), row["name"])
        if "x" in row["tag"]:
            masks[row["tag"]] = rule
        else:
            exact[int(row["tag"], 16)] = rule
    return exact, masks


def _mask_rule(tag: int, masks: dict[str, Rule]) -> Rule | None:
    text = f"{tag:08x}"
    for mask, rule in masks.items():
        if all(m == "x" or m == t for m, t in zip(mask, text, strict=True)):
            return rule
    return None


def new_uid(uid: str, salt: bytes) -> str:
    """The replacement of ``uid``: ``2.25.`` and a 128-bit integer from HMAC-SHA256 (at most 44 characters)."""
    digest = hmac.new(salt, uid.strip().encode("ascii", "replace"), hashlib.sha256).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def is_well_known_uid(uid: str) -> bool:
    """SOP classes, transfer syntaxes, coding schemes...: public constants that identify no one."""
    return uid.strip() in UID_dictionary


class Anonymiser:
    """Applies the profile to datasets of one export; keeps the UID map so it is consistent across files."""

    def __init__(self, options: AnonymisationOptions) -> None:
        self.options = options
        self.exact, self.masks = rules(options.retain_uids, options.retain_dates)
        self.uid_map: dict[str, str] = {}

    # -- values ---------------------------------------------------------------
    def map_uid(self, uid: str) -> str:
        uid = uid.strip().rstrip("\x00")
        if not uid or self.options.retain_uids or is_well_known_uid(uid):
            return uid
        if uid not in self.uid_map:
            self.uid_map[uid] = new_uid(uid, self.options.salt)
        return self.uid_map[uid]

    def _map_uid_value(self, elem: DataElement) -> None:
        if elem.VM > 1:
            elem.value = [self.map_uid(str(v)) for v in elem.value]
        elif elem.value:
            elem.value = self.map_uid(str(elem.value))

    @staticmethod
    def _empty(elem: DataElement) -> None:
        elem.value = Sequence([]) if elem.VR == "SQ" else (b"" if elem.VR in ("OB", "OW", "OD", "OF", "OL", "OV",
                                                                                   "UN") else "")

    def _dummy(self, elem: DataElement) -> None:
        if elem.VR == "SQ":
            # A dummy item would need the IOD's content rules; an empty sequence
            # carries nothing and is what a reader without the content sees.
            elem.value = Sequence([])
        elif elem.VR == "UI":
            self._map_uid_value(elem)
        elif elem.VR in DUMMIES:
            elem.value = DUMMIES[elem.VR]
        elif elem.VR in TEXT_VRS:
            elem.value = DUMMY_TEXT
        elif elem.VR in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
            elem.value = 0
        else:
            self._empty(elem)

    # -- datasets -------------------------------------------------------------
    def _rule_for(self, elem: DataElement) -> str:
        tag = int(elem.tag)
        if elem.tag.is_private:
            return "X"
        group = tag >> 16
        if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
            return "X"  # curves and overlay planes: graphics that may spell out identity
        rule = self.exact.get(tag) or _mask_rule(tag, self.masks)
        if rule is not None:
            return rule.action
        if elem.VR == "PN":
            return "Z"
        if elem.VR in TEMPORAL_VRS and not self.options.retain_dates:
            return "X"
        if elem.VR == "UI":
            return "U"
        return "K"

    def clean(self, ds: Dataset) -> None:
        """Apply the profile to ``ds`` in place, recursing into every kept sequence."""
        for elem in list(ds):
            action = self._rule_for(elem)
            if action == "X":
                del ds[elem.tag]
                continue
            if action == "Z":
                self._empty(elem)
            elif action == "D":
                self._dummy(elem)
            elif action == "U" and elem.VR == "UI":
                self._map_uid_value(elem)  # keeps well-known UIDs, and all when UIDs are retained
            if elem.VR == "SQ" and elem.value:
                for item in elem.value:
                    self.clean(item)

    def anonymise(self, ds: Dataset) -> Dataset:
        """Clean ``ds`` (in place) and mark it de-identified; returns it with a fresh file meta."""
        self.clean(ds)
        if self.options.pseudonym:
            ds.PatientName = self.options.pseudonym
            ds.PatientID = self.options.pseudonym
        mark_deidentified(ds, self.options)
        old_meta = getattr(ds, "file_meta", None)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
        meta.TransferSyntaxUID = _transfer_syntax(ds, old_meta)
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        return ds


def _transfer_syntax(ds: Dataset, old_meta: Dataset | None) -> str:
    """The source's transfer syntax (pixels are copied as they are), or the one its bytes were read in."""
    ts = str(old_meta.get("TransferSyntaxUID", "")).strip() if old_meta is not None else ""
    if ts:
        return ts
    implicit, little = getattr(ds, "original_encoding", (False, True))
    if implicit:
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


def mark_deidentified(ds: Dataset, options: AnonymisationOptions) -> None:
    """Patient Identity Removed, the method in words and codes, and whether dates were kept."""
    codes = _profile()["codes"]
    chosen = ["basic"] + (["retain_uids"] if options.retain_uids else []) + (
        ["retain_dates"] if options.retain_dates else [])
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "; ".join(codes[c][1] for c in chosen)[:64]
    items = []
    for c in chosen:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = codes[c][0], "DCM", codes[c][1]
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED" if options.retain_dates else "REMOVED"


def burned_in_reason(ds: Dataset) -> str | None:
    """Why this image's pixels may show identity (text burned into the image), or None."""
    flag = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    if flag == "YES":
        return "BurnedInAnnotation is YES"
    if flag == "NO":
        return None
    modality = str(ds.get("Modality", "")).strip().upper()
    if modality in BURNED_IN_MODALITIES:
        return f"modality {modality} often carries burned-in text"
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(BURNED_IN_SOP_PREFIXES):
        return f"SOP class {sop_class} often carries burned-in text"
    return None


def read_source(path: Path) -> Dataset:
    """The whole dataset of one source file, opened read-only; files without a preamble are accepted.

    pydicom's warnings are silenced: they quote header values, names among them.
    """
    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = f.read(132)
        if not (head[128:132] == b"DICM" or tagscan.looks_like_dataset(head)):
            raise DicomError("not a DICOM file (no DICM prefix and no DICOM element at the start)", path)
        f.seek(0)
        ds = pydicom.dcmread(f, force=True)
        for required in ("SOPClassUID", "SOPInstanceUID"):
            if not str(ds.get(required, "")).strip():
                raise DicomError(f"no {required}: not a storable DICOM instance", path)
        _check_pixels_complete(ds, path)
        return ds


def _check_pixels_complete(ds: Dataset, path: Path) -> None:
    """Refuse an image whose pixels are missing or cut short: pydicom reads a truncated file without a word."""
    if "Rows" not in ds and "Image" not in pydicom.uid.UID(str(ds.SOPClassUID)).name:
        return  # not an image (SR, RT plan...): nothing to check
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DicomError("image without pixel data (file truncated?)", path)
    syntax = pydicom.uid.UID(str(ds.file_meta.get("TransferSyntaxUID", "")) if "file_meta" in dir(ds) else "")
    if "PixelData" not in ds or (syntax and syntax.is_encapsulated):
        return
    try:
        bits = int(ds.BitsAllocated)
        count = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1) or 1) * int(
            ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomError(f"image size attributes unusable ({type(exc).__name__})", path) from exc
    expected = (count * bits + 7) // 8
    actual = len(ds.PixelData or b"")
    if actual < expected:
        raise DicomError(f"pixel data has {actual} bytes, {expected} expected (file truncated?)", path)


def anonymise_study(progress: Progress, cancel: CancelFlag | None, source_files: Iterable[str | PathLike[str]],
                    out_dir: str | PathLike[str], options: AnonymisationOptions | None = None) -> AnonymisationReport:
    """Write anonymised copies of ``source_files`` under ``out_dir`` (a job: progress, cancel).

    Files are named by position, never by their original names (which may
    hold a patient's name): ``series-NNN/image-NNNNN.dcm``, series numbered in
    order of first appearance. A file that cannot be read is skipped with a
    one-line reason; the rest goes on. ``out_dir`` appears only when done.
    """
    options = options or AnonymisationOptions()
    sources = [Path(p) for p in source_files]
    target = Path(out_dir)
    report = AnonymisationReport(out_dir=target, retain_uids=options.retain_uids, retain_dates=options.retain_dates)
    anonymiser = Anonymiser(options)
    with staged_folder(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings quote header values, names among them
        layout = _Layout(tmp)
        for n, src in enumerate(sources):
            check_cancel(cancel)
            progress(n / max(len(sources), 1), f"anonymising {n + 1} of {len(sources)}")
            _anonymise_file(src, anonymiser, layout, target, report)
        check_cancel(cancel)
    report.uids_remapped = len(anonymiser.uid_map)
    progress(1.0, report.summary())
    log.info("anonymised export: %s", report.summary())
    return report


class _Layout:
    """Output names by position: one folder per series, images numbered in the order they come."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, Path] = {}
        self.counts: dict[str, int] = {}

    def next_name(self, series_uid: str) -> Path:
        folder = self.folders.setdefault(series_uid, self.root / f"series-{len(self.folders) + 1:03d}")
        folder.mkdir(exist_ok=True)
        self.counts[series_uid] = self.counts.get(series_uid, 0) + 1
        return folder / f"image-{self.counts[series_uid]:05d}.dcm"


def _anonymise_file(src: Path, anonymiser: Anonymiser, layout: _Layout, target: Path,
                    report: AnonymisationReport) -> None:
    """One source into one anonymised file, or one entry in ``report.skipped``."""
    try:
        ds = read_source(src)
        burned = burned_in_reason(ds)
        series_uid = str(ds.get("SeriesInstanceUID", ""))
        anonymiser.anonymise(ds)
    except WorkstationError as exc:
        report.skipped.append(Skipped.of(exc))
        return
    except Exception as exc:  # noqa: BLE001 - a bad file is skipped with its reason; the export goes on
        report.skipped.append(Skipped(str(src), f"cannot anonymise ({type(exc).__name__})"))
        log.info("anonymise skipped %s", src, exc_info=True)
        return
    name = layout.next_name(series_uid)
    try:
        ds.save_as(name, enforce_file_format=True)
    except Exception as exc:  # noqa: BLE001 - a dataset pydicom cannot write is skipped, not fatal
        report.skipped.append(Skipped(str(src), f"cannot write anonymised copy ({type(exc).__name__})"))
        log.info("anonymise could not write %s", src, exc_info=True)
        name.unlink(missing_ok=True)
        return
    final = target / name.relative_to(layout.root)
    report.written.append(final)
    if burned:
        report.burned_in.append(f"{final}: {burned}")


__all__ = ["AnonymisationOptions", "AnonymisationReport", "Anonymiser", "anonymise_study",
           "burned_in_reason", "is_well_known_uid", "new_uid", "resolve", "rules"]
