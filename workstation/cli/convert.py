"""``workstation convert PATH... -o OUT [--series UID]``: DICOM series to NIfTI, NRRD or MetaImage.

The format follows OUT's extension (.nii, .nii.gz, .nrrd, .mha) and the file
is written by SimpleITK's writers from the exact LPS geometry (NIfTI gets RAS
as SimpleITK writes it). With several volumes and no ``--series``, one file per
volume is written with the series number in its name (``ct_3.nii``), and a
further part number when one series gave several volumes (``ct_3_2.nii``).
Each file appears under its name only when complete (``atomic_output``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.atomic import atomic_output
from workstation.cli.info import cli_progress, report_skipped
from workstation.errors import ExportError, last_line
from workstation.jobs import Job, no_progress, run_job

if TYPE_CHECKING:
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
    repeats = Counter(numbers)
    seen: Counter[int] = Counter()
    paths = []
    for number in numbers:
        seen[number] += 1
        part = f"_{seen[number]}" if repeats[number] > 1 else ""
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
    result = run_job(Job(lambda progress, cancel: load_volumes(args.paths, progress, cancel, args.series, buffers)),
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
