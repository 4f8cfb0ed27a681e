"""Image files in and out: NIfTI, NRRD and MetaImage through SimpleITK, in the exact LPS geometry.

One writer for every image the program writes (``workstation convert``,
registration exports, GUI exports) and one reader for every image file it
opens (the viewer, ``workstation register``, experiments), so the shear
check and the format rules live once. NIfTI stores RAS on disk; SimpleITK
turns it into LPS on reading and back on writing, so a Volume is LPS here
like everywhere else. Each file appears under its name only when complete
(``atomic_output``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workstation.atomic import atomic_output
from workstation.errors import ExportError, WorkstationError, last_line
from workstation.volume import Volume, VolumeMeta

NIFTI_SKEW_LIMIT = 1e-4
"""Largest deviation of the direction from orthonormal that NIfTI gets, squared (under 0.03 mm over 300 mm).

NIfTI stores only orthonormal directions and SimpleITK silently squares a
sheared one (gantry tilt), which would move voxels by millimetres; such
volumes are refused for NIfTI and written exactly to .nrrd or .mha.
"""

# extension -> (SimpleITK ImageIO, compress)
FORMATS = {".nii.gz": ("NiftiImageIO", True), ".nii": ("NiftiImageIO", False), ".nrrd": ("NrrdImageIO", False),
           ".mha": ("MetaImageIO", False)}


READ_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
"""Image files ``read_image`` opens (besides DICOM, which ``workstation.opening.open_volume`` routes elsewhere)."""


class ImageFileError(WorkstationError):
    """An image file that cannot be read as a volume."""


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(READ_SUFFIXES)


def read_image(path: str | Path) -> Volume:
    """A NIfTI (sform/qform), NRRD or MetaImage file as a Volume in LPS; 4D files keep their time points.

    A vector (multi-component) image is refused: the viewer and registration
    take scalar voxels.
    """
    import SimpleITK as sitk  # deferred: faster start-up
    p = Path(path)
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise ImageFileError(f"cannot read the image ({last_line(exc)})", p) from exc
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFileError(f"{image.GetNumberOfComponentsPerPixel()} values per voxel; only scalar images open", p)
    meta = VolumeMeta(description=p.name)
    if image.GetDimension() == 4:
        size = image.GetSize()
        frames = [sitk.Extract(image, (*size[:3], 0), (0, 0, 0, t)) for t in range(size[3])]
        first = Volume.from_sitk(frames[0], meta)
        array = np.ascontiguousarray(np.stack([sitk.GetArrayViewFromImage(f) for f in frames]))
        return Volume(array, first.affine, meta)
    if image.GetDimension() != 3:
        raise ImageFileError(f"a {image.GetDimension()}D image; volumes are 3D or 4D", p)
    return Volume.from_sitk(image, meta)


def split_extension(path: Path) -> tuple[str, str]:
    """(stem, extension) with the double extension .nii.gz kept whole; ExportError for other formats."""
    name = path.name
    for extension in FORMATS:
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[:-len(extension)], extension
    raise ExportError(f"unknown output format; use one of {', '.join(FORMATS)}", path)


def write_volume(volume: Volume, path: Path) -> None:
    """Write one volume (3D, or 4D as a 4D image) with the writer its extension names.

    A loaded volume's voxels go to the writer without a copy (``Volume.to_sitk``).
    """
    import SimpleITK as sitk  # deferred: faster start-up
    _stem, extension = split_extension(path)
    image_io, compress = FORMATS[extension]
    direction = volume.direction
    if image_io == "NiftiImageIO":
        skew = float(np.abs(direction.T @ direction - np.eye(3)).max())
        if skew > NIFTI_SKEW_LIMIT:
            raise ExportError("the grid is sheared (gantry tilt) and NIfTI cannot store that without moving voxels; "
                              "write .nrrd or .mha, which keep it exactly", path)
        if skew > 1e-12:
            u, _, vt = np.linalg.svd(direction)
            direction = u @ vt  # the nearest orthonormal matrix: what NIfTI can hold, within the limit above
    if volume.array.ndim == 4:  # the repetition time goes into the 4th spacing (NIfTI pixdim[4], seconds)
        tr = volume.meta.extra.get("repetition_time_ms")
        image = sitk.JoinSeries([volume.to_sitk(t) for t in range(volume.timepoints)], 0.0,
                                float(tr) / 1000 if tr else 1.0)
        full = np.eye(4)
        full[:3, :3] = direction
        image.SetDirection(tuple(full.ravel()))
    else:
        image = volume.to_sitk()
        if image.GetDirection() != tuple(direction.ravel()):  # setting it on a shared image copies the voxels
            image.SetDirection(tuple(direction.ravel()))
    writer = sitk.ImageFileWriter()
    writer.SetImageIO(image_io)
    writer.SetUseCompression(compress)
    with atomic_output(path, "image") as tmp:
        try:
            writer.SetFileName(str(tmp))
            writer.Execute(image)
        except RuntimeError as exc:
            raise ExportError(f"SimpleITK could not write it ({last_line(exc)})", path) from exc
    if image_io == "NiftiImageIO" and volume.meta.extra.get("diffusion"):
        write_bval_bvec(volume, direction, path)


def write_bval_bvec(volume: Volume, direction: np.ndarray, path: Path) -> None:
    """FSL's .bval and .bvec beside a diffusion NIfTI, for the ``direction`` the file was written with.

    NIfTI's voxel axes are ours (SimpleITK writes the array as it is), so a
    gradient g (LPS) is ``direction.T @ g`` along them, the first component
    negated when the determinant is positive (FSL's radiological voxel order).
    Gradients are made unit length (scanners store them rounded, 0.9994 long
    in the Philips DWI of dcm_qa_philips), as dcm2niix and fitting tools do.
    """
    table = volume.meta.extra["diffusion"]
    flip = np.diag([-1.0 if np.linalg.det(direction) > 0 else 1.0, 1.0, 1.0])
    gradients = np.array([g for _, g in table], dtype=np.float64).reshape(-1, 3)
    lengths = np.linalg.norm(gradients, axis=1, keepdims=True)
    gradients = np.divide(gradients, lengths, out=np.zeros_like(gradients), where=lengths > 0)
    vectors = flip @ direction.T @ gradients.T
    stem, _extension = split_extension(path)
    with atomic_output(path.with_name(f"{stem}.bval"), "b-values") as tmp:
        tmp.write_text(" ".join(f"{b:g}" for b, _ in table) + "\n")
    with atomic_output(path.with_name(f"{stem}.bvec"), "gradient directions") as tmp:
        tmp.write_text("".join(" ".join(f"{v:.6g}" for v in row) + "\n" for row in vectors))
