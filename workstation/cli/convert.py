"""``workstation convert PATH... -o OUT [--series UID]``: DICOM series to NIfTI, NRRD or MetaImage.

The format follows OUT's extension (.nii, .nii.gz, .nrrd, .mha) and the file
is written by SimpleITK's writers from the exact LPS geometry (NIfTI gets RAS
as SimpleITK writes it). With several volumes and no ``--series``, one file per
volume is written with the series number in its name (``ct_3.nii``), and a
further part number when one series gave several volumes (``ct_3_2.nii``), or
the kind of image when that is what differs (``fmap_801_magnitude.nii`` and
``fmap_801_fieldmap_hz.nii``, dcm2niix's ``_e1`` and ``_e2_fieldmaphz``).
Each file appears under its name only when complete (``atomic_output``).

As dcm2niix writes them: Philips scaled data as Philips floating-point values
(``--scaling display`` for the values a DICOM viewer shows; see
``workstation.dicom.scaling``), a 4D file's time step (pixdim[4]) is the
repetition time in seconds, and a diffusion series gets FSL's ``.bval`` and
``.bvec`` beside it (gradients along the written image's voxel axes, the
first negated when the voxel-to-world matrix has a positive determinant, as
FSL reads them).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.atomic import atomic_output
from workstation.cli.info import add_scaling_argument, cli_progress, report_skipped
from workstation.errors import ExportError, last_line
from workstation.jobs import Job, no_progress, run_job

if TYPE_CHECKING:
    import numpy as np

    from workstation.volume import SitkBuffers, Volume

NIFTI_SKEW_LIMIT = 1e-4
"""Largest deviation of the direction from orthonormal that NIfTI gets, squared (under 0.03 mm over 300 mm).

NIfTI stores only orthonormal directions and SimpleITK silently squares a
sheared one (gantry tilt), which would move voxels by millimetres; such
volumes are refused for NIfTI and written exactly to .nrrd or .mha.
"""

# extension -> (SimpleITK ImageIO, compress)
FORMATS = {".nii.gz": ("NiftiImageIO", True), ".nii": ("NiftiImageIO", False), ".nrrd": ("NrrdImageIO", False),
           ".mha": ("MetaImageIO", False)}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert DICOM series to .nii, .nii.gz, .nrrd or .mha",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="DICOM file or folder")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                        help="output file; its extension picks the format: " + ", ".join(FORMATS))
    parser.add_argument("--series", metavar="UID", help="convert only this SeriesInstanceUID")
    add_scaling_argument(parser)
    parser.add_argument("--reference", type=Path, metavar="SERIES",
                        help="for a SEG or RTSTRUCT: the folder of the images it was drawn on")
    parser.set_defaults(func=run)


def split_extension(path: Path) -> tuple[str, str]:
    """(stem, extension) with the double extension .nii.gz kept whole; ExportError for other formats."""
    name = path.name
    for extension in FORMATS:
        if name.lower().endswith(extension) and len(name) > len(extension):
            return name[:-len(extension)], extension
    raise ExportError(f"unknown output format; use one of {', '.join(FORMATS)}", path)


def output_paths(output: Path, volumes: list[Volume]) -> list[Path]:
    """One path per volume: OUT itself for one volume, else OUT's stem plus the series (and part) number."""
    if len(volumes) == 1:
        return [output]
    stem, extension = split_extension(output)
    numbers = [v.meta.series_number if v.meta.series_number is not None else n for n, v in enumerate(volumes, 1)]
    kinds = [str(v.meta.extra.get("kind", "")) for v in volumes]
    repeats = Counter(numbers)
    named = Counter(zip(numbers, kinds, strict=True))
    seen: Counter[int] = Counter()
    paths = []
    for number, kind in zip(numbers, kinds, strict=True):
        seen[number] += 1
        part = ""
        if repeats[number] > 1:
            part = f"_{kind}" if kind and named[number, kind] == 1 else f"_{seen[number]}"
        paths.append(output.with_name(f"{stem}_{number}{part}{extension}"))
    return paths


def write_volume(volume: Volume, path: Path, buffers: SitkBuffers | None = None) -> None:
    """Write one volume (3D, or 4D as a 4D image) with the writer its extension names.

    ``buffers``, the allocator the volume was loaded with, spares a copy of the voxels.
    """
    import numpy as np
    import SimpleITK as sitk

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
        tr = volume.meta.extra.get("repetition_time_ms")
        image = sitk.JoinSeries([volume.to_sitk(t) for t in range(volume.timepoints)], 0.0,
                                float(tr) / 1000 if tr else 1.0)
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
    import numpy as np

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


def run(args: argparse.Namespace) -> int:
    split_extension(args.output)  # refuse an unknown format before reading anything
    if not args.output.parent.is_dir():
        raise ExportError("the output folder does not exist", args.output.parent)
    from workstation.cli import label_objects

    if label_objects.label_object_paths(args.paths):
        return label_objects.convert(args)
    from workstation.dicom.load import load_volumes
    from workstation.volume import SitkBuffers

    buffers = SitkBuffers()  # decode straight into SimpleITK images: no copy before writing
    result = run_job(Job(lambda progress, cancel: load_volumes(args.paths, progress, cancel, args.series, buffers,
                                                               args.scaling)),
                     cli_progress() or no_progress)
    for volume, path in zip(result.volumes, output_paths(args.output, result.volumes), strict=True):
        write_volume(volume, path, buffers)
        size = " x ".join(str(n) for n in (*volume.shape_ijk, *(
            [volume.timepoints] if volume.array.ndim == 4 else [])))
        print(f"{path}: {volume.meta.modality} {size} {volume.array.dtype} {volume.meta.description}".rstrip())
        for warning in volume.meta.warnings:
            print(f"  warning: {warning}")
    report_skipped("convert", result.skipped)
    return 0
