"""Write a Volume as a new DICOM series, e.g. an MR resampled onto the CT grid by a registration.

Why: the result of a registration is only useful in a hospital if it goes
back to the PACS or the planning system as DICOM, in the same study as its
references, in the frame of reference it was resampled into, and as a new
series (never overwriting the originals). Patient and study come from
reference headers; geometry comes from the Volume's affine, slice by slice,
in LPS as DICOM wants it. Pixels are stored as 16-bit integers with a
rescale slope and intercept when the values are not already integers in
range. The files are staged and appear together (``staging``).
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pydicom.valuerep import format_number_as_ds

from workstation.dicom.header import InstanceHeader
from workstation.dicom.staging import staged_folder
from workstation.errors import ExportError
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.volume import Volume

Reference = InstanceHeader | Sequence[InstanceHeader] | Dataset | str | PathLike[str]

SOP_CLASSES = {
    "CT": pydicom.uid.CTImageStorage,
    "MR": pydicom.uid.MRImageStorage,
    "PT": pydicom.uid.PositronEmissionTomographyImageStorage,
}
# Patient and study attributes the new series shares with its reference, by InstanceHeader field.
SHARED = {
    "PatientName": "patient_name", "PatientID": "patient_id", "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex", "StudyInstanceUID": "study_uid", "StudyDate": "study_date",
    "StudyTime": "study_time", "StudyDescription": "study_description", "AccessionNumber": "accession_number",
}
EXTRA_FROM_DATASET = ("StudyID", "ReferringPhysicianName", "PatientIdentityRemoved", "IssuerOfPatientID")
ORTHOGONAL_TOLERANCE = 1e-4


def _reference_dataset(reference: Reference) -> Dataset:
    """Patient and study attributes of the reference, whatever form it came in."""
    if isinstance(reference, (str, PathLike)):
        try:
            with open(reference, "rb") as f:  # read-only: a source is never written
                reference = pydicom.dcmread(f, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise ExportError(f"cannot read the reference header ({type(exc).__name__})", reference) from exc
    if isinstance(reference, Dataset):
        out = Dataset()
        for keyword in (*SHARED, *EXTRA_FROM_DATASET, "Modality", "PatientPosition", "SpecificCharacterSet"):
            if keyword in reference:
                setattr(out, keyword, reference.data_element(keyword).value)
        return out
    header = reference if isinstance(reference, InstanceHeader) else next(iter(reference), None)
    if header is None:
        raise ExportError("no reference header given for the exported series")
    out = Dataset()
    for keyword, attr in SHARED.items():
        setattr(out, keyword, getattr(header, attr))
    out.Modality = header.modality
    out.PatientPosition = header.patient_position
    out.SpecificCharacterSet = "ISO_IR 192"  # the header's strings are decoded Python text: write UTF-8
    return out


def _geometry(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spacing, direction 3x3, normal) after checking DICOM slices can carry the grid."""
    spacing, _, direction = volume.geometry_parts()
    if np.any(np.asarray(spacing) <= 0):
        raise ExportError("the volume has a zero or negative voxel spacing")
    normal = np.cross(direction[:, 0], direction[:, 1])
    if abs(abs(float(np.dot(normal, direction[:, 2]))) - 1.0) > ORTHOGONAL_TOLERANCE:
        raise ExportError("the volume's slice axis is not perpendicular to its rows and columns; "
                          "DICOM slices cannot hold it (resample it first)")
    return np.asarray(spacing, dtype=np.float64), direction, normal


def _ds(value: float) -> str:
    return format_number_as_ds(float(value)) if math.isfinite(value) else "0"


class PixelEncoding:
    """How the volume's values become 16-bit stored values: ``stored * slope + intercept == value``."""

    def __init__(self, array: np.ndarray) -> None:
        low, high, integral = math.inf, -math.inf, True
        for plane in array.reshape(-1, *array.shape[-2:]):  # plane by plane: no volume-sized temporaries
            values = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
            if values.size:
                low, high = min(low, float(values.min())), max(high, float(values.max()))
                integral = integral and (values.dtype.kind in "iub" or bool(np.all(values == np.rint(values))))
        if low > high:  # nothing finite
            low = high = 0.0
        self.fill = low
        if integral and -32768 <= low and high <= 32767:
            self.signed, self.slope, self.intercept = True, 1.0, 0.0
        elif integral and 0 <= low and high <= 65535:
            self.signed, self.slope, self.intercept = False, 1.0, 0.0
        else:  # spread the range over int16, slope and intercept as the DS strings will say them
            self.signed = True
            self.slope = float(_ds((high - low) / 65535.0 if high > low else 1.0))
            self.intercept = float(_ds(low + 32768.0 * self.slope))

    def stored(self, plane: np.ndarray) -> np.ndarray:
        values = np.where(np.isfinite(plane), plane, self.fill) if plane.dtype.kind == "f" else plane
        if self.slope != 1.0 or self.intercept != 0.0:
            values = np.rint((values - self.intercept) / self.slope)
        dtype = np.int16 if self.signed else np.uint16
        info = np.iinfo(dtype)
        return np.clip(values, info.min, info.max).astype(dtype)


def _series_dataset(volume: Volume, ref: Dataset, series_description: str, frame_of_reference_uid: str,
                    series_number: int, encoding: PixelEncoding) -> Dataset:
    """Everything the slices of the new series share."""
    ds = Dataset()
    for elem in ref:
        ds.add(elem)
    modality = volume.meta.modality or str(ref.get("Modality", "")) or "OT"
    now = datetime.datetime.now()
    ds.Modality = modality
    ds.SOPClassUID = SOP_CLASSES.get(modality, pydicom.uid.SecondaryCaptureImageStorage)
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description[:64]
    ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.Manufacturer = "workstation"
    ds.ConversionType = "WSD"  # workstation: needed by secondary capture, harmless elsewhere
    ds.PatientPosition = str(ref.get("PatientPosition", "")) or volume.meta.patient_position
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(volume.array.shape[-2]), int(volume.array.shape[-1])
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if encoding.signed else 0
    ds.RescaleSlope, ds.RescaleIntercept = _ds(encoding.slope), _ds(encoding.intercept)
    ds.RescaleType = volume.meta.units or ("HU" if modality == "CT" else "US")
    if volume.meta.window_presets:
        preset = volume.meta.window_presets[0]
        ds.WindowCenter, ds.WindowWidth = _ds(preset.center), _ds(preset.width)
    for keyword in ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
                    "ReferringPhysicianName", "PatientBirthDate", "PatientSex", "StudyID"):
        if keyword not in ds:
            setattr(ds, keyword, "" if keyword != "StudyInstanceUID" else generate_uid())
    return ds


def export_dicom_series(progress: Progress, cancel: CancelFlag | None, volume: Volume, out_dir: str | PathLike[str],
                        reference_headers_or_dataset: Reference, series_description: str,
                        frame_of_reference_uid: str, *, series_number: int = 9001) -> list[Path]:
    """Write ``volume`` as a new series in ``out_dir`` (created; must not exist or be empty); the file paths.

    The series joins the reference's patient and study, gets a new Series
    Instance UID and new SOP Instance UIDs, and lies in
    ``frame_of_reference_uid`` (the fixed image's, for a registration
    result). A 4D volume is written time point after time point with
    Temporal Position Identifiers. Sources are only read.
    """
    if not frame_of_reference_uid:
        raise ExportError("a frame of reference UID is needed for an exported series")
    spacing, direction, normal = _geometry(volume)
    encoding = PixelEncoding(volume.array)
    base = _series_dataset(volume, _reference_dataset(reference_headers_or_dataset), series_description,
                           frame_of_reference_uid, series_number, encoding)
    frames = volume.array if volume.array.ndim == 4 else volume.array[np.newaxis]
    slices = frames.shape[1]
    target = Path(out_dir)
    written: list[Path] = []
    with staged_folder(target) as tmp:
        for t, frame in enumerate(frames):
            for k in range(slices):
                check_cancel(cancel)
                n = t * slices + k
                ds = _slice_dataset(base, volume, frame[k], k, spacing, direction, normal, encoding)
                ds.InstanceNumber = n + 1
                if len(frames) > 1:
                    ds.TemporalPositionIdentifier, ds.NumberOfTemporalPositions = t + 1, len(frames)
                name = f"image-{n + 1:05d}.dcm"
                try:
                    ds.save_as(tmp / name, enforce_file_format=True)
                except (OSError, ValueError) as exc:
                    raise ExportError(f"cannot write {name} ({type(exc).__name__}: {exc})", target) from exc
                written.append(target / name)
                progress((n + 1) / (len(frames) * slices), f"writing {series_description}")
        check_cancel(cancel)
    return written


def _slice_dataset(base: Dataset, volume: Volume, plane: np.ndarray, k: int, spacing: np.ndarray,
                   direction: np.ndarray, normal: np.ndarray, encoding: PixelEncoding) -> Dataset:
    ds = copy.deepcopy(base)  # a shallow copy would share (and so overwrite) the base's elements
    ds.SOPInstanceUID = generate_uid()
    position = volume.index_to_world([0.0, 0.0, float(k)])
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.ImageOrientationPatient = [_ds(v) for v in (*direction[:, 0], *direction[:, 1])]
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]  # row spacing (along j), then column spacing (along i)
    ds.SliceThickness = ds.SpacingBetweenSlices = _ds(spacing[2])
    ds.SliceLocation = _ds(float(np.dot(position, normal)))
    ds.PixelData = np.ascontiguousarray(encoding.stored(plane)).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
