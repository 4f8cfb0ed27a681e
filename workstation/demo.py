"""The built-in demo study: a synthetic head phantom written as real DICOM.

Why: a newcomer, a screenshot and a registration test all need a CT and an MR
of the same anatomy whose true alignment is known exactly. Real scans never
come with that, so the phantom is defined analytically (ellipsoids in LPS mm)
and each series samples it on its own grid:

- ``CT/``: axial, head first supine, 256 x 256 at 0.9 mm, 1.5 mm slices, in
  HU through RescaleSlope/Intercept (air -1000, soft tissue 45, fat -90,
  skull 1400, CSF and ventricles 5, grey 38, white 26, a dense lesion 85).
- ``MR/``: a T1-like 3D sagittal acquisition, 1.2 mm isotropic, with T1
  contrast (white matter bright, CSF and skull dark, scalp fat bright), of the
  same head moved by a known rigid transform between the two scans.

The truth is ``MR_TO_CT_TRANSFORM``: the transform that registering the MR
(moving) to the CT (fixed) should find. In ITK's convention it maps a fixed
(CT) LPS point to the moving (MR) LPS point showing the same anatomy. It is
written beside the series as ``ground_truth.json`` (with landmarks in both
frames) and ``ground_truth.tfm`` (SimpleITK's transform file).

Everything is deterministic (fixed UIDs, seeded noise), so two runs write the
same files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from workstation import geometry, paths
from workstation.errors import ExportError
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress

DEMO_VERSION = 2
"""Bumped whenever the phantom or the files change, so old demo folders are rebuilt."""

GROUND_TRUTH_FILE = "ground_truth.json"

HEAD_CENTER = np.array([0.0, 15.0, -60.0])
"""LPS mm of the head's centre in the CT frame; the rigid offset turns about it."""

# -- the rigid offset between the scans -----------------------------------------
ROTATION_DEGREES = (5.0, -3.0, 4.0)
"""Rotation about the LPS x, y and z axes through HEAD_CENTER, applied x first: R = Rz @ Ry @ Rx
(SimpleITK's Euler3DTransform with ComputeZYX on)."""
TRANSLATION_MM = (4.0, -3.0, 6.0)


def _euler_transform() -> sitk.Euler3DTransform:
    transform = sitk.Euler3DTransform()
    transform.SetComputeZYX(True)
    transform.SetCenter(tuple(HEAD_CENTER))
    transform.SetRotation(*np.deg2rad(ROTATION_DEGREES))
    transform.SetTranslation(TRANSLATION_MM)
    return transform


def _transform_matrix() -> np.ndarray:
    ax, ay, az = ROTATION_DEGREES
    rotation = (geometry.rotation_matrix([0, 0, 1], az) @ geometry.rotation_matrix([0, 1, 0], ay)
                @ geometry.rotation_matrix([1, 0, 0], ax))
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = HEAD_CENTER + np.asarray(TRANSLATION_MM) - rotation @ HEAD_CENTER
    matrix.setflags(write=False)
    return matrix


MR_TO_CT_TRANSFORM = _transform_matrix()
"""4x4 LPS, ITK convention: maps fixed (CT) points to moving (MR) points, ``mr = M @ [ct, 1]``."""


def ct_to_mr(points: np.ndarray | list[float]) -> np.ndarray:
    """Where anatomy at CT-frame LPS points (..., 3) lies in the MR frame."""
    return geometry.apply(MR_TO_CT_TRANSFORM, np.asarray(points, dtype=np.float64))


def mr_to_ct(points: np.ndarray | list[float]) -> np.ndarray:
    """Where anatomy at MR-frame LPS points (..., 3) lies in the CT frame."""
    return geometry.apply(np.linalg.inv(MR_TO_CT_TRANSFORM), np.asarray(points, dtype=np.float64))


# -- the phantom -------------------------------------------------------------------
@dataclass(frozen=True)
class Tissue:
    name: str
    ct_hu: float
    mr_t1: float


TISSUES = (
    Tissue("air", -1000.0, 0.0),
    Tissue("soft tissue", 45.0, 320.0),
    Tissue("fat", -90.0, 900.0),
    Tissue("bone", 1400.0, 40.0),
    Tissue("csf", 5.0, 140.0),
    Tissue("grey matter", 38.0, 480.0),
    Tissue("white matter", 26.0, 680.0),
    Tissue("vitreous", 8.0, 110.0),
    Tissue("lesion", 85.0, 820.0),
)
"""Indexed by label; values before blur and noise."""
LABEL = {tissue.name: index for index, tissue in enumerate(TISSUES)}


@dataclass(frozen=True)
class Ellipsoid:
    """An axis-aligned ellipsoid painted with one tissue.

    ``center`` is relative to HEAD_CENTER. ``above`` keeps only the part
    superior to that relative z (the skull base cuts the brain off flat);
    ``inside_head`` keeps only what lies inside tissue painted earlier.
    """

    tissue: str
    center: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    above: float | None = None
    inside_head: bool = False

    def may_meet(self, low: np.ndarray, high: np.ndarray) -> bool:
        """Whether the box [low, high] (relative mm) can hold any of the ellipsoid: a cheap skip test."""
        center, semi = np.asarray(self.center), np.asarray(self.semi_axes)
        return bool(np.all(center - semi <= high) and np.all(center + semi >= low))

    def contains(self, rel: np.ndarray) -> np.ndarray:
        q = sum(((rel[..., a] - self.center[a]) / self.semi_axes[a]) ** 2 for a in range(3))
        inside = q <= 1.0
        if self.above is not None:
            inside &= rel[..., 2] > self.above
        return inside


SKULL_BASE = -40.0
# Painted in order; later shapes overwrite earlier ones. LPS: +x left, +y posterior, +z superior.
ANATOMY = (
    Ellipsoid("soft tissue", (0, -92, -50), (12, 18, 24)),              # nose
    Ellipsoid("soft tissue", (0, 0, 0), (74, 94, 104)),                 # skin and muscle
    Ellipsoid("fat", (0, 0, 0), (71, 91, 101)),                         # scalp fat
    Ellipsoid("soft tissue", (0, 0, 0), (68, 88, 98)),                  # face and jaw muscles
    Ellipsoid("bone", (0, 0, 0), (68, 88, 98), above=SKULL_BASE - 20),  # skull vault, open below
    Ellipsoid("soft tissue", (0, 0, 0), (61, 81, 91)),                  # face below the skull base
    Ellipsoid("bone", (0, 0, 0), (61, 81, 91), above=SKULL_BASE - 6),   # skull base plate
    Ellipsoid("csf", (0, 0, 0), (61, 81, 91), above=SKULL_BASE),        # subarachnoid CSF
    Ellipsoid("grey matter", (0, 0, 0), (59, 79, 89), above=SKULL_BASE + 2),
    Ellipsoid("white matter", (0, 0, 0), (47, 66, 74), above=SKULL_BASE + 8),
    Ellipsoid("csf", (13, 5, 15), (6, 24, 10)),                         # left lateral ventricle
    Ellipsoid("csf", (-13, 5, 15), (6, 24, 10)),                        # right lateral ventricle
    Ellipsoid("lesion", (28, -25, 35), (7, 7, 7)),                      # dense lesion, left frontal
    Ellipsoid("fat", (32, -74, -25), (17, 17, 17), inside_head=True),   # left orbit
    Ellipsoid("fat", (-32, -74, -25), (17, 17, 17), inside_head=True),  # right orbit
    Ellipsoid("vitreous", (32, -78, -25), (12, 12, 12)),                # left eye
    Ellipsoid("vitreous", (-32, -78, -25), (12, 12, 12)),               # right eye
)

LANDMARKS_CT = {
    "head_center": HEAD_CENTER + (0.0, 0.0, 0.0),
    "ventricle_left": HEAD_CENTER + (13.0, 5.0, 15.0),
    "ventricle_right": HEAD_CENTER + (-13.0, 5.0, 15.0),
    "lesion": HEAD_CENTER + (28.0, -25.0, 35.0),
    "eye_left": HEAD_CENTER + (32.0, -78.0, -25.0),
    "eye_right": HEAD_CENTER + (-32.0, -78.0, -25.0),
}
"""Anatomical points (LPS mm, CT frame): centres of shapes in ANATOMY, for target registration errors."""


def landmarks_mr() -> dict[str, np.ndarray]:
    """LANDMARKS_CT carried into the MR frame by the true transform."""
    return {name: ct_to_mr(point) for name, point in LANDMARKS_CT.items()}


def tissue_labels(points_ct: np.ndarray) -> np.ndarray:
    """Label (index into TISSUES) of the phantom at CT-frame LPS points (..., 3)."""
    # float32 is exact to 1e-5 mm here and makes the tests against the ellipsoids three times faster
    rel = (np.asarray(points_ct, dtype=np.float64) - HEAD_CENTER).astype(np.float32)
    labels = np.zeros(rel.shape[:-1], dtype=np.uint8)
    flat = rel.reshape(-1, 3)
    low, high = flat.min(axis=0), flat.max(axis=0)
    for shape in ANATOMY:
        if not shape.may_meet(low, high):
            continue
        inside = shape.contains(rel)
        if shape.inside_head:
            inside &= labels != LABEL["air"]
        labels[inside] = LABEL[shape.tissue]
    return labels


# -- the acquisitions --------------------------------------------------------------
@dataclass(frozen=True)
class Acquisition:
    """One series: its grid in its own scanner frame and how it shows tissue."""

    folder: str
    modality: str
    description: str
    series_number: int
    size: tuple[int, int, int]              # columns (i), rows (j), slices (k)
    spacing: tuple[float, float, float]     # mm along i, j, k
    row_direction: tuple[float, float, float]     # LPS unit vector along i
    column_direction: tuple[float, float, float]  # LPS unit vector along j
    slice_direction: tuple[float, float, float]   # LPS unit vector along k (the order of the files)
    center: tuple[float, float, float]      # LPS mm of the grid centre, in this scan's frame
    noise: float                            # standard deviation, in the series' units
    blur_mm: float                          # Gaussian sigma of the scanner's point spread

    @property
    def direction(self) -> np.ndarray:
        return np.column_stack([self.row_direction, self.column_direction, self.slice_direction])

    @property
    def origin(self) -> np.ndarray:
        """LPS centre of voxel (0, 0, 0)."""
        half = (np.asarray(self.size, dtype=np.float64) - 1) / 2 * np.asarray(self.spacing)
        return np.asarray(self.center) - self.direction @ half

    @property
    def affine(self) -> np.ndarray:
        return geometry.affine_from(self.spacing, self.origin, self.direction)


CT = Acquisition(
    folder="CT", modality="CT", description="CT head phantom 0.9 mm", series_number=2,
    size=(256, 256, 144), spacing=(0.9, 0.9, 1.5),
    row_direction=(1.0, 0.0, 0.0), column_direction=(0.0, 1.0, 0.0), slice_direction=(0.0, 0.0, 1.0),
    center=tuple(HEAD_CENTER + (0.0, -8.0, 0.0)), noise=4.0, blur_mm=0.6,
)
MR = Acquisition(
    folder="MR", modality="MR", description="MR T1 3D sagittal head phantom 1.2 mm", series_number=5,
    size=(192, 192, 144), spacing=(1.2, 1.2, 1.2),
    row_direction=(0.0, 1.0, 0.0), column_direction=(0.0, 0.0, -1.0), slice_direction=(-1.0, 0.0, 0.0),
    center=tuple(ct_to_mr(HEAD_CENTER) + (0.0, -8.0, 0.0)), noise=12.0, blur_mm=0.8,
)

_SLAB = 16  # slices labelled at a time: about 60 ms of work between cancel checks


def _tissue_volume(acq: Acquisition, to_ct: Callable[[np.ndarray], np.ndarray],
                   progress: Progress, cancel: CancelFlag | None, share: tuple[float, float]) -> np.ndarray:
    """Labels (k, j, i) of the phantom seen on ``acq``'s grid; ``to_ct`` maps its frame to the CT frame."""
    ni, nj, nk = acq.size
    labels = np.empty((nk, nj, ni), dtype=np.uint8)
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    for k0 in range(0, nk, _SLAB):
        check_cancel(cancel)
        ks = np.arange(k0, min(k0 + _SLAB, nk))
        index = np.stack(np.broadcast_arrays(i[None], j[None], ks[:, None, None]), axis=-1).astype(np.float64)
        labels[ks] = tissue_labels(to_ct(geometry.apply(acq.affine, index)))
        progress(share[0] + (share[1] - share[0]) * (k0 + len(ks)) / nk, f"phantom {acq.folder}")
    return labels


def _image(acq: Acquisition, labels: np.ndarray, values: np.ndarray, seed: int) -> np.ndarray:
    """Tissue values blurred by the scanner's point spread, plus seeded noise (float32, k, j, i)."""
    image = sitk.GetImageFromArray(values[labels])
    image.SetSpacing(acq.spacing)
    blurred = sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(image, acq.blur_mm))
    rng = np.random.default_rng(seed)
    if acq.modality == "MR":  # magnitude images: Rician noise, never negative
        real = blurred + rng.standard_normal(blurred.shape, dtype=np.float32) * acq.noise
        imag = rng.standard_normal(blurred.shape, dtype=np.float32) * acq.noise
        return np.sqrt(real * real + imag * imag)
    return blurred + rng.standard_normal(blurred.shape, dtype=np.float32) * acq.noise


# -- DICOM ---------------------------------------------------------------------------
_UID_SEED = "workstation-demo-phantom"
STUDY_DATE, STUDY_TIME = "20240115", "093000"
CT_RESCALE_INTERCEPT = -1024.0


def _uid(*parts: object) -> str:
    """A valid, reproducible UID under pydicom's root."""
    return generate_uid(entropy_srcs=[_UID_SEED, str(DEMO_VERSION), *map(str, parts)])


STUDY_UID = _uid("study")
CT_SERIES_UID = _uid("series", CT.folder)
MR_SERIES_UID = _uid("series", MR.folder)
_SOP_CLASS = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def _ds(value: float) -> str:
    """A DS string (at most 16 characters) that round-trips the geometry to well below 1e-6 mm."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.9g}"


def _base_dataset(acq: Acquisition, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = _SOP_CLASS[acq.modality]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if acq.modality == "CT" else "M"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = STUDY_DATE
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = ""
    ds.Modality = acq.modality
    ds.Manufacturer = "workstation demo phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "DEMO head phantom"
    ds.SeriesDescription = acq.description
    ds.PatientName = "DEMO^PHANTOM"
    ds.PatientID = "DEMO0001"
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = _ds(acq.spacing[2])
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = acq.series_number
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = _uid("frame of reference", acq.folder)
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = [_ds(v) for v in (*acq.row_direction, *acq.column_direction)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = acq.size[1], acq.size[0]
    ds.PixelSpacing = [_ds(acq.spacing[1]), _ds(acq.spacing[0])]  # row spacing, then column spacing
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if acq.modality == "CT":
        ds.KVP = "120"
        ds.ConvolutionKernel = "STANDARD"
        ds.RescaleIntercept = _ds(CT_RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = ["40", "600"], ["80", "2800"]
        ds.WindowCenterWidthExplanation = ["BRAIN", "BONE"]
    else:
        ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions = "GR", ["SP", "MP"], ""
        ds.MRAcquisitionType = "3D"
        ds.RepetitionTime, ds.EchoTime, ds.FlipAngle = "8.2", "3.2", "8"
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = "3"
        ds.SpacingBetweenSlices = _ds(acq.spacing[2])
        ds.WindowCenter, ds.WindowWidth = "450", "900"
        ds.WindowCenterWidthExplanation = "T1"
    return ds


def _write_series(acq: Acquisition, series_uid: str, stored: np.ndarray, folder: Path,
                  progress: Progress, cancel: CancelFlag | None, share: tuple[float, float]) -> None:
    """One explicit VR little endian file per slice, instance 1 first along ``slice_direction``."""
    folder.mkdir()
    ds = _base_dataset(acq, series_uid)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    origin, step = acq.origin, np.asarray(acq.slice_direction) * acq.spacing[2]
    nk = stored.shape[0]
    for k in range(nk):
        check_cancel(cancel)
        position = origin + k * step
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID = _uid("instance", acq.folder, k)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in position]
        ds.SliceLocation = _ds(float(position @ np.cross(acq.row_direction, acq.column_direction)))
        ds.PixelData = stored[k].tobytes()
        ds["PixelData"].VR = "OW"
        ds.save_as(folder / f"{acq.folder}{k + 1:04d}.dcm", enforce_file_format=True)
        progress(share[0] + (share[1] - share[0]) * (k + 1) / nk, f"writing {acq.folder}")


def _stored_values(acq: Acquisition, image: np.ndarray) -> np.ndarray:
    """Real-world values as the 12-bit unsigned integers the files store."""
    offset = -CT_RESCALE_INTERCEPT if acq.modality == "CT" else 0.0
    return np.clip(np.rint(image + offset), 0, 4095).astype("<u2")


def ground_truth() -> dict:
    """What ground_truth.json holds: the true transform and landmarks, in both frames."""
    mr_points = landmarks_mr()
    return {
        "demo_version": DEMO_VERSION,
        "convention": ("ITK: matrix_lps maps a fixed (CT) LPS point to the moving (MR) LPS point of the same "
                       "anatomy, mr = matrix_lps @ [ct, 1]; it is what registering MR (moving) to CT (fixed) finds"),
        "fixed": {"folder": CT.folder, "series_uid": CT_SERIES_UID},
        "moving": {"folder": MR.folder, "series_uid": MR_SERIES_UID},
        "matrix_lps": MR_TO_CT_TRANSFORM.tolist(),
        "euler": {"center_lps": HEAD_CENTER.tolist(), "rotation_degrees_xyz": list(ROTATION_DEGREES),
                  "order": "R = Rz @ Ry @ Rx (SimpleITK Euler3DTransform, ComputeZYX on)",
                  "translation_mm": list(TRANSLATION_MM)},
        "landmarks": {name: {"ct": LANDMARKS_CT[name].tolist(), "mr": mr_points[name].tolist()}
                      for name in LANDMARKS_CT},
        "tissues": {t.name: {"ct_hu": t.ct_hu, "mr_t1": t.mr_t1} for t in TISSUES},
    }


def _write_into(progress: Progress, cancel: CancelFlag | None, folder: Path) -> None:
    plan = ((CT, CT_SERIES_UID, lambda p: p, 1, (0.0, 0.5)),
            (MR, MR_SERIES_UID, mr_to_ct, 2, (0.5, 0.95)))
    for acq, series_uid, to_ct, seed, (start, end) in plan:
        labels = _tissue_volume(acq, to_ct, progress, cancel, (start, start + (end - start) * 0.5))
        values = np.asarray([t.ct_hu if acq.modality == "CT" else t.mr_t1 for t in TISSUES], dtype=np.float32)
        check_cancel(cancel)
        stored = _stored_values(acq, _image(acq, labels, values, seed))
        _write_series(acq, series_uid, stored, folder / acq.folder, progress, cancel,
                      (start + (end - start) * 0.5, end))
    sitk.WriteTransform(_euler_transform(), str(folder / "ground_truth.tfm"))
    (folder / GROUND_TRUTH_FILE).write_text(json.dumps(ground_truth(), indent=2) + "\n", encoding="utf-8")
    progress(1.0, "demo study written")


def write_demo_study(progress: Progress, cancel: CancelFlag | None, folder: str | os.PathLike[str]) -> Path:
    """Write the demo study into ``folder`` (new or empty); a job (``Job(write_demo_study, folder)``).

    The files are written in a hidden sibling folder renamed into place at the
    end, so a cancelled or failed run leaves nothing behind.
    """
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ExportError("folder exists and is not empty", target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    except OSError as exc:
        raise ExportError(f"cannot create the folder ({exc.strerror})", target) from exc
    try:
        _write_into(progress, cancel, staging)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"cannot write the demo study ({exc.strerror})", target) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _is_current(folder: Path) -> bool:
    try:
        return json.loads((folder / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))["demo_version"] == DEMO_VERSION
    except (OSError, ValueError, KeyError, TypeError):
        return False


def ensure_demo_study(progress: Progress = no_progress, cancel: CancelFlag | None = None) -> Path:
    """The demo study in the user data folder, written on first use (a few seconds) and then reused."""
    folder = paths.demo_dir()
    if _is_current(folder):
        return folder
    if folder.exists():  # an older phantom version: our own folder, safe to replace
        shutil.rmtree(folder)
    try:
        return write_demo_study(progress, cancel, folder)
    except ExportError:
        if _is_current(folder):  # another process finished first
            return folder
        raise


def read_ground_truth(folder: str | os.PathLike[str]) -> dict:
    """ground_truth.json of a demo folder, with ``matrix_lps`` as a numpy 4x4."""
    truth = json.loads((Path(folder) / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    truth["matrix_lps"] = np.asarray(truth["matrix_lps"], dtype=np.float64)
    return truth


__all__ = [
    "CT", "CT_SERIES_UID", "HEAD_CENTER", "LANDMARKS_CT", "MR", "MR_SERIES_UID", "MR_TO_CT_TRANSFORM",
    "STUDY_UID", "TISSUES", "ct_to_mr", "ensure_demo_study", "ground_truth", "landmarks_mr", "mr_to_ct",
    "read_ground_truth", "tissue_labels", "write_demo_study",
]
