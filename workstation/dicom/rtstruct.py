"""RT Structure Sets in and out: ROI contours rasterised onto the images' grid, label maps written as contours.

Why: radiotherapy planning systems exchange structures as RTSTRUCT, and a
radiologist expects to see them over the CT they were drawn on. Contours
are planar polygons in LPS mm; each must lie in a slice of the referenced
grid, and a slice's contours of one ROI fill by the even-odd rule (holes are
contours inside contours). Overlapping ROIs (an organ inside the body
outline) are dealt into several label maps. Writing traces each segment's
outline along its voxels' edges (``workstation.contours``), so reading our
own RTSTRUCT gives back the same voxels.
"""

from __future__ import annotations

import datetime
import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workstation import __version__, contours
from workstation.atomic import atomic_output
from workstation.dicom.label_objects import RTSTRUCT_STORAGE, referenced_series
from workstation.dicom.seg import POSITION_TOLERANCE, read_source_headers, read_whole, source_header
from workstation.errors import DicomError
from workstation.jobs import CancelFlag, Progress, check_cancel
from workstation.labels import LabelMap, Piece, Segment, deal, default_segment
from workstation.volume import Volume, VolumeMeta

RTSTRUCT_SERIES_NUMBER = 9903
PATIENT_STUDY_TAGS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID",
                      "StudyDate", "StudyTime", "ReferringPhysicianName", "AccessionNumber")


def is_rtstruct(dataset: pydicom.Dataset) -> bool:
    return str(dataset.get("SOPClassUID", "")) == RTSTRUCT_STORAGE


# -- reading ---------------------------------------------------------------------------------------------------------

def read_rtstruct(path: str | PathLike[str], reference: Volume) -> list[LabelMap]:
    """The ROIs of an RTSTRUCT rasterised onto ``reference`` (the series it was drawn on).

    Raises ``DicomError`` naming the file when a contour is damaged, off the
    slices or outside the grid, or when the structures lie in another frame
    of reference and do not name the loaded images either.
    """
    return read_whole(path, "structure set", lambda dataset: _read(dataset, reference))


def _read(dataset: pydicom.Dataset, reference: Volume) -> list[LabelMap]:
    if not is_rtstruct(dataset):
        raise DicomError("not an RT Structure Set")
    segments = {int(roi.ROINumber): default_segment(int(roi.ROINumber), str(roi.get("ROIName", "")) or None)
                for roi in dataset.get("StructureSetROISequence", [])}
    for roi in dataset.get("StructureSetROISequence", []):
        segments[int(roi.ROINumber)].algorithm_type = str(roi.get("ROIGenerationAlgorithm", "MANUAL")) or "MANUAL"
    warnings_ = _check_frame_of_reference(dataset, reference)
    slices, rows, columns = reference.array.shape[-3:]
    pieces: dict[int, list[Piece]] = {}
    for item in dataset.get("ROIContourSequence", []):
        number = int(item.ReferencedROINumber)
        if number not in segments:
            raise DicomError(f"contours of ROI {number}, which the structure set does not describe")
        if "ROIDisplayColor" in item:
            segments[number].colour = tuple(int(v) for v in item.ROIDisplayColor)[:3]
        by_slice: dict[int, list[np.ndarray]] = {}
        for n, contour in enumerate(item.get("ContourSequence", []), 1):
            if str(contour.get("ContourGeometricType", "CLOSED_PLANAR")) != "CLOSED_PLANAR":
                continue  # points and open lines enclose no voxels
            k, polygon = _contour_on_grid(contour, reference, number, n)
            if not 0 <= k < slices:
                raise DicomError(f"contour {n} of ROI {number} lies outside the images' grid")
            by_slice.setdefault(k, []).append(polygon)
        pieces[number] = [(k, 0, 0, contours.fill(polygons, (rows, columns))) for k, polygons in by_slice.items()]
    if not segments:
        raise DicomError("the structure set has no ROIs")
    meta = VolumeMeta(modality="RTSTRUCT", series_uid=str(dataset.get("SeriesInstanceUID", "")),
                      description=str(dataset.get("StructureSetLabel", "")),
                      study_uid=str(dataset.get("StudyInstanceUID", "")),
                      frame_of_reference_uid=reference.meta.frame_of_reference_uid, warnings=warnings_,
                      extra={"referenced_series_uids": referenced_series(dataset)})
    return deal(reference, list(segments.values()), pieces, meta)


def _check_frame_of_reference(dataset: pydicom.Dataset, reference: Volume) -> list[str]:
    """Nothing when the frames of reference agree; a warning when they differ but the contours name our images.

    Some writers (rt-utils among them) put a fresh frame of reference UID on
    structures drawn on a CT; the images each contour names are then the
    better evidence. Without such names the structures are refused.
    """
    theirs = {str(item.FrameOfReferenceUID) for item in dataset.get("ReferencedFrameOfReferenceSequence", [])}
    theirs |= {str(roi.ReferencedFrameOfReferenceUID) for roi in dataset.get("StructureSetROISequence", [])
               if "ReferencedFrameOfReferenceUID" in roi}
    ours = reference.meta.frame_of_reference_uid
    if not ours or not theirs or theirs == {ours}:
        return []
    named = {str(image.ReferencedSOPInstanceUID)
             for item in dataset.get("ROIContourSequence", []) for contour in item.get("ContourSequence", [])
             for image in contour.get("ContourImageSequence", [])}
    loaded = _sop_instance_uids(reference)
    if named and loaded and named <= loaded:
        return ["the structures name another frame of reference than their images; placed by the images they name"]
    raise DicomError("the structures lie in another frame of reference than the images")


def _sop_instance_uids(reference: Volume) -> set[str]:
    return {source_header(reference, p).sop_instance_uid for p in reference.meta.extra.get("paths") or []}


def _contour_on_grid(contour: pydicom.Dataset, grid: Volume, number: int, n: int) -> tuple[int, np.ndarray]:
    """The slice a contour lies in and its (x, y) = (i, j) polygon; DicomError when it is damaged or off-slice."""
    data = np.asarray(contour.ContourData, dtype=np.float64)
    if data.size < 9 or data.size % 3 or not np.all(np.isfinite(data)):
        raise DicomError(f"contour {n} of ROI {number} is damaged ({data.size} coordinates)")
    ijk = grid.world_to_index(data.reshape(-1, 3))
    k = np.rint(ijk[:, 2])
    if np.abs(ijk[:, 2] - k).max() > POSITION_TOLERANCE or np.ptp(k) != 0:
        raise DicomError(f"contour {n} of ROI {number} does not lie in a slice of the images")
    return int(k[0]), ijk[:, :2]


# -- writing ---------------------------------------------------------------------------------------------------------

def write_rtstruct(progress: Progress, cancel: CancelFlag | None, labels: LabelMap, reference: Volume,
                   path: str | PathLike[str], label: str = "Structures") -> Path:
    """Write the segments of ``labels`` as ROIs of an RTSTRUCT on ``reference``'s series; a job.

    Each segment's voxels on each slice become the outlines of their edges
    (outer outlines and holes), in LPS mm through the slice's images.
    """
    out = Path(path)
    if reference.array.shape[-3:] != labels.array.shape or not np.allclose(reference.affine, labels.volume.affine,
                                                                           atol=1e-4):
        raise DicomError("the label map is not on the grid of the series it references", out)
    headers = _headers_by_slice(reference, out)
    first = headers[0]
    dataset = _base_dataset(first, label)
    dataset.ReferencedFrameOfReferenceSequence = Sequence([_frame_reference(first, headers)])
    rois, contours_, observations = [], [], []
    segments = sorted(labels.segments, key=lambda s: s.number)
    for n, segment in enumerate(segments):
        check_cancel(cancel)
        progress(n / max(1, len(segments)), f"tracing {segment.label}")
        rois.append(_roi(segment, first))
        contours_.append(_roi_contours(labels, segment, headers, cancel))
        observations.append(_observation(segment))
    dataset.StructureSetROISequence = Sequence(rois)
    dataset.ROIContourSequence = Sequence(contours_)
    dataset.RTROIObservationsSequence = Sequence(observations)
    with atomic_output(out, "structure set") as tmp:
        dataset.save_as(tmp, enforce_file_format=True)
    progress(1.0, "structure set written")
    return out


def _headers_by_slice(reference: Volume, out: Path) -> list[pydicom.Dataset]:
    headers = read_source_headers(reference)
    if len(headers) == 1 and int(headers[0].get("NumberOfFrames", 1)) > 1:
        raise DicomError("writing structures on an enhanced multi-frame series is not supported yet", out)
    slices = reference.array.shape[-3]
    by_slice: dict[int, pydicom.Dataset] = {}
    for header in headers:
        k = int(round(float(reference.world_to_index(np.asarray(header.ImagePositionPatient, float))[2])))
        by_slice.setdefault(k, header)
    if sorted(by_slice) != list(range(slices)):
        raise DicomError("the series' slices do not each have an image file to reference", out)
    return [by_slice[k] for k in range(slices)]


def _base_dataset(first: pydicom.Dataset, label: str) -> pydicom.Dataset:
    now = datetime.datetime.now()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SpecificCharacterSet = first.get("SpecificCharacterSet", "ISO_IR 100")
    dataset.SOPClassUID = RTSTRUCT_STORAGE
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    for keyword in PATIENT_STUDY_TAGS:
        dataset[keyword] = pydicom.DataElement(pydicom.datadict.tag_for_keyword(keyword),
                                               pydicom.datadict.dictionary_VR(keyword), first.get(keyword, ""))
    dataset.Modality = "RTSTRUCT"
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SeriesNumber = RTSTRUCT_SERIES_NUMBER
    dataset.SeriesDescription = label
    dataset.OperatorsName = ""
    dataset.InstanceNumber = 1
    dataset.Manufacturer = "workstation"
    dataset.ManufacturerModelName = "workstation"
    dataset.SoftwareVersions = __version__
    dataset.FrameOfReferenceUID = first.FrameOfReferenceUID
    dataset.PositionReferenceIndicator = ""
    dataset.StructureSetLabel = label[:16]
    dataset.StructureSetDate = dataset.InstanceCreationDate = now.strftime("%Y%m%d")
    dataset.StructureSetTime = dataset.InstanceCreationTime = now.strftime("%H%M%S")
    dataset.SeriesDate, dataset.SeriesTime = dataset.StructureSetDate, dataset.StructureSetTime
    return dataset


def _image_reference(header: pydicom.Dataset) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    return item


def _frame_reference(first: pydicom.Dataset, headers: list[pydicom.Dataset]) -> pydicom.Dataset:
    series = pydicom.Dataset()
    series.SeriesInstanceUID = first.SeriesInstanceUID
    series.ContourImageSequence = Sequence([_image_reference(h) for h in headers])
    study = pydicom.Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management, as the standard lists
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([series])
    frame = pydicom.Dataset()
    frame.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame.RTReferencedStudySequence = Sequence([study])
    return frame


def _roi(segment: Segment, first: pydicom.Dataset) -> pydicom.Dataset:
    roi = pydicom.Dataset()
    roi.ROINumber = segment.number
    roi.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
    roi.ROIName = segment.label
    roi.ROIGenerationAlgorithm = segment.algorithm_type if segment.algorithm_type in (
        "AUTOMATIC", "SEMIAUTOMATIC", "MANUAL") else "MANUAL"
    return roi


def _observation(segment: Segment) -> pydicom.Dataset:
    observation = pydicom.Dataset()
    observation.ObservationNumber = segment.number
    observation.ReferencedROINumber = segment.number
    observation.RTROIInterpretedType = "ORGAN" if segment.type.value == "113343008" else ""
    observation.ROIInterpreter = ""
    return observation


def _roi_contours(labels: LabelMap, segment: Segment, headers: list[pydicom.Dataset],
                  cancel: CancelFlag | None) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.ReferencedROINumber = segment.number
    item.ROIDisplayColor = list(segment.colour)
    mask = labels.array == segment.number
    items = []
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        check_cancel(cancel)
        for outline in contours.outlines(mask[k]):
            ijk = np.column_stack([outline, np.full(len(outline), float(k))])
            points = labels.volume.index_to_world(ijk)
            contour = pydicom.Dataset()
            contour.ContourImageSequence = Sequence([_image_reference(headers[k])])
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points)
            with warnings.catch_warnings():  # DS values are formatted to fit 16 characters: expected here
                warnings.simplefilter("ignore")
                contour.ContourData = [float(f"{v:.6g}") for v in points.ravel()]
            items.append(contour)
    item.ContourSequence = Sequence(items)
    return item
