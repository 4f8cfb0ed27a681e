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
import SimpleITK as sitk

from workstation.atomic import atomic_output
from workstation.errors import ExportError, WorkstationError, last_line
from workstation.volume import SitkBuffers, Volume, VolumeMeta

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


def write_volume(volume: Volume, path: Path, buffers: SitkBuffers | None = None) -> None:
    """Write one volume (3D, or 4D as a 4D image) with the writer its extension names.

    ``buffers``, the allocator the volume was loaded with, spares a copy of the voxels.
    """
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
    if volume.array.ndim == 4:
        image = sitk.JoinSeries([volume.to_sitk(t) for t in range(volume.timepoints)])
        full = np.eye(4)
        full[:3, :3] = direction
        image.SetDirection(tuple(full.ravel()))
    else:
        image = buffers.image(volume) if buffers is not None else volume.to_sitk()
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
