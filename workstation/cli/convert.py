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

from workstation.cli.info import add_scaling_argument, cli_progress, report_skipped
from workstation.errors import ExportError
from workstation.image_io import FORMATS, split_extension, write_volume
from workstation.jobs import Job, no_progress, run_job

if TYPE_CHECKING:
    from workstation.volume import Volume


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


def run(args: argparse.Namespace) -> int:
    split_extension(args.output)  # refuse an unknown format before reading anything
    if not args.output.parent.is_dir():
        raise ExportError("the output folder does not exist", args.output.parent)
    from workstation.cli import label_objects

    if label_objects.label_object_paths(args.paths):
        return label_objects.convert(args)
    from workstation.dicom.load import load_volumes
    from workstation.volume import sitk_array

    job = Job(load_volumes, args.paths, args.series, allocate=sitk_array, scaling=args.scaling)
    result = run_job(job, cli_progress() or no_progress)
    for volume, path in zip(result.volumes, output_paths(args.output, result.volumes), strict=True):
        write_volume(volume, path)
        size = " x ".join(str(n) for n in (*volume.shape_ijk, *(
            [volume.timepoints] if volume.array.ndim == 4 else [])))
        print(f"{path}: {volume.meta.modality} {size} {volume.array.dtype} {volume.meta.description}".rstrip())
        for warning in volume.meta.warnings:
            print(f"  warning: {warning}")
    report_skipped("convert", result.skipped)
    return 0
