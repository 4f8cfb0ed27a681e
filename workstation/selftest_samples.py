"""Small CT series written in each transfer syntax the self-test checks, and the check of one sample.

Why generated and not shipped: the test files of pydicom-data are a test
dependency, not part of an installed program; writing the samples with the
encoders that are installed anyway (pydicom's own RLE and deflate, pyjpegls
for JPEG-LS, pylibjpeg-openjpeg for JPEG 2000, GDCM for the JPEG processes
that no pydicom encoder writes) keeps the self-test free of data files.

Each sample is read back twice: through ``workstation.dicom.load`` (the
path the viewer takes, including the modality LUT) and through every pixel
plugin that must be present for that syntax, because pydicom silently falls
back to another plugin when one is missing from a bundle.

The plugins are the ones we may ship (no GPL code): GDCM for the JPEG
processes (12-bit JPEG extended through ``workstation.dicom.jpeg12``), pyjpegls
and GDCM for JPEG-LS, pylibjpeg-openjpeg and GDCM for JPEG 2000,
pylibjpeg-rle and pydicom for RLE.

Not checked, for lack of an installed encoder: HTJ2K (1.2.840.10008.1.2.4.201-203)
and JPEG-LS near-lossless with 16-bit data; they are decoded by the same
plugins that are checked here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset

from workstation.dicom import jpeg12
from workstation.jobs import no_progress

SHAPE = (3, 64, 64)  # slices, rows, columns
SPACING = (0.8, 0.8, 2.0)  # column, row, slice (mm)
INTERCEPT = -1024


@dataclass(frozen=True)
class Sample:
    """One transfer syntax: how to write it, which plugins must decode it, how far a lossy codec may stray."""

    name: str
    syntax: str
    write: Callable[[Dataset, np.ndarray, Path], None]
    plugins: tuple[str, ...] = ()
    bits: int = 16  # BitsStored (8: one byte a sample, else two)
    tolerance: float = 0.0  # largest mean absolute error allowed (stored values)


def stored_pixels(bits: int) -> np.ndarray:
    """Smooth ramps with a bright block: distinct per slice, row and column, and fair to lossy codecs."""
    k, j, i = np.indices(SHAPE)
    values = 100 + 8 * i + 12 * j + 400 * k
    values[:, 20:40, 24:44] += 1200
    if bits == 8:
        values = values * 255 // int(values.max())
    return values.astype(np.uint8 if bits == 8 else np.uint16)


def _slice_dataset(k: int, pixels: np.ndarray, bits: int, series_uid: str, frame_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uid.CTImageStorage
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = "SELFTEST^PHANTOM", "SELFTEST"
    ds.StudyInstanceUID = uid.generate_uid()
    ds.SeriesInstanceUID, ds.FrameOfReferenceUID = series_uid, frame_uid
    ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0.0, 0.0, k * SPACING[2]]
    ds.PixelSpacing = [SPACING[1], SPACING[0]]
    ds.SliceThickness = SPACING[2]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = pixels.dtype.itemsize * 8, bits, bits - 1
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = INTERCEPT, 1, "HU"
    ds.PixelData = pixels.tobytes()
    return ds


def _save(syntax: str) -> Callable[[Dataset, np.ndarray, Path], None]:
    """Uncompressed syntaxes: pydicom writes them (big endian needs the pixel bytes swapped by us)."""
    def write(ds: Dataset, pixels: np.ndarray, path: Path) -> None:
        ds.file_meta.TransferSyntaxUID = syntax
        if syntax == uid.ExplicitVRBigEndian:
            ds.PixelData = pixels.astype(pixels.dtype.newbyteorder(">")).tobytes()
        ds.save_as(path, enforce_file_format=True)
    return write


def _pydicom_encoder(syntax: str, **options: object) -> Callable[[Dataset, np.ndarray, Path], None]:
    def write(ds: Dataset, pixels: np.ndarray, path: Path) -> None:
        ds.compress(syntax, pixels, generate_instance_uid=False, **options)
        ds.save_as(path, enforce_file_format=True)
    return write


def _gdcm_encoder(syntax: str) -> Callable[[Dataset, np.ndarray, Path], None]:
    """JPEG processes no pydicom encoder writes: GDCM transcodes the uncompressed file."""
    def write(ds: Dataset, pixels: np.ndarray, path: Path) -> None:
        import gdcm

        plain = path.with_suffix(".plain")
        ds.save_as(plain, enforce_file_format=True)
        reader = gdcm.ImageReader()
        reader.SetFileName(str(plain))
        if not reader.Read():
            raise RuntimeError(f"GDCM cannot read {plain.name}")
        change = gdcm.ImageChangeTransferSyntax()
        change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(syntax)))
        change.SetInput(reader.GetImage())
        if not change.Change():
            raise RuntimeError(f"GDCM cannot encode {syntax}")
        writer = gdcm.ImageWriter()
        writer.SetFileName(str(path))
        writer.SetFile(reader.GetFile())
        writer.SetImage(change.GetOutput())
        if not writer.Write():
            raise RuntimeError(f"GDCM cannot write {path.name}")
        plain.unlink()
    return write


SAMPLES = [
    Sample("explicit VR little endian", uid.ExplicitVRLittleEndian, _save(uid.ExplicitVRLittleEndian)),
    Sample("implicit VR little endian", uid.ImplicitVRLittleEndian, _save(uid.ImplicitVRLittleEndian)),
    Sample("explicit VR big endian", uid.ExplicitVRBigEndian, _save(uid.ExplicitVRBigEndian)),
    Sample("deflated explicit VR little endian", uid.DeflatedExplicitVRLittleEndian,
           _save(uid.DeflatedExplicitVRLittleEndian)),
    Sample("RLE lossless", uid.RLELossless, _pydicom_encoder(uid.RLELossless), ("pydicom", "pylibjpeg")),
    Sample("JPEG baseline", uid.JPEGBaseline8Bit, _gdcm_encoder(uid.JPEGBaseline8Bit), ("gdcm", "pillow"),
           bits=8, tolerance=1.5),
    Sample("JPEG extended 12-bit", uid.JPEGExtended12Bit, _gdcm_encoder(uid.JPEGExtended12Bit), (jpeg12.LABEL,),
           bits=12, tolerance=1.5),
    Sample("JPEG lossless", uid.JPEGLossless, _gdcm_encoder(uid.JPEGLossless), ("gdcm",)),
    Sample("JPEG lossless SV1", uid.JPEGLosslessSV1, _gdcm_encoder(uid.JPEGLosslessSV1), ("gdcm",)),
    Sample("JPEG-LS lossless", uid.JPEGLSLossless, _pydicom_encoder(uid.JPEGLSLossless), ("pyjpegls", "gdcm")),
    Sample("JPEG 2000 lossless", uid.JPEG2000Lossless, _pydicom_encoder(uid.JPEG2000Lossless), ("pylibjpeg", "gdcm")),
    Sample("JPEG 2000", uid.JPEG2000, _pydicom_encoder(uid.JPEG2000, j2k_cr=[8]), ("pylibjpeg", "gdcm"),
           tolerance=5.0),
]


def write_sample(sample: Sample, folder: Path) -> np.ndarray:
    """The sample's series in ``folder`` (one file per slice); returns the stored values written."""
    folder.mkdir(parents=True)
    pixels = stored_pixels(sample.bits)
    series_uid, frame_uid = uid.generate_uid(), uid.generate_uid()
    for k in range(SHAPE[0]):
        sample.write(_slice_dataset(k, pixels[k], sample.bits, series_uid, frame_uid), pixels[k],
                     folder / f"{k:03d}.dcm")
    return pixels


def _compare(what: str, got: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    if got.shape != expected.shape:
        raise RuntimeError(f"{what}: shape {got.shape}, expected {expected.shape}")
    error = float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).mean())
    if error > tolerance:
        raise RuntimeError(f"{what}: mean error {error:.3g} (allowed {tolerance:g})")


def check_sample(sample: Sample, folder: Path) -> str:
    """Write the sample, load it as a volume and decode it with each required plugin; raise on any mismatch."""
    from pydicom.pixels import get_decoder, pixel_array

    from workstation.dicom.load import load_volumes

    jpeg12.register()
    stored = write_sample(sample, folder)
    available = get_decoder(sample.syntax).available_plugins if sample.plugins else ()
    missing = sorted(set(sample.plugins) - set(available))
    if missing:
        raise RuntimeError(f"{sample.name}: pixel plugins missing: {', '.join(missing)}")
    volumes = load_volumes(no_progress, None, folder).volumes
    if len(volumes) != 1:
        raise RuntimeError(f"{sample.name}: {len(volumes)} volumes assembled, expected 1")
    _compare(f"{sample.name} (loader)", volumes[0].array, stored.astype(np.int32) + INTERCEPT, sample.tolerance)
    for plugin in sample.plugins:
        decoded = np.stack([pixel_array(path, decoding_plugin=plugin) for path in sorted(folder.glob("*.dcm"))])
        _compare(f"{sample.name} ({plugin})", decoded, stored, sample.tolerance)
    return f"{sample.name} ({'+'.join(sample.plugins) or 'native'})"
