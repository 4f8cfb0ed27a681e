"""``workstation segment SERIES --seed X,Y,Z --threshold LO HI [--name NAME] -o OUT.dcm|OUT.nii.gz [--json]``.

Region growing from a seed given in LPS mm (face connectivity: the six
neighbours) over the voxels whose values lie in [LO, HI], written as a DICOM
SEG referencing SERIES (OUT.dcm) or as a label map (.nii, .nii.gz, .nrrd,
.mha; voxel value 1). ``--json`` prints one object: volume_ml, voxels, mean,
sd, min, max, median, surface_mm2, units, seed, threshold, output. A seed
with a negative first coordinate is written ``--seed=-12.5,30,4``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli.info import cli_progress
from workstation.errors import WorkstationError
from workstation.jobs import CancelFlag, Job, Progress, no_progress, run_job, scaled_progress

if TYPE_CHECKING:
    from segmentation.statistics import SegmentStatistics
    from workstation.labels import LabelMap
    from workstation.volume import Volume


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("segment", help="region growing from a seed, written as DICOM SEG or a label map",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("series", type=Path, metavar="SERIES", help="DICOM folder or file holding the series")
    parser.add_argument("--seed", required=True, type=_point, metavar="X,Y,Z", help="seed point in LPS mm")
    parser.add_argument("--threshold", required=True, nargs=2, type=float, metavar=("LO", "HI"),
                        help="the value range grown into (HU for CT)")
    parser.add_argument("--name", default="Segment 1", help="the segment's label (default: Segment 1)")
    parser.add_argument("--series-uid", metavar="UID", help="the series to use when SERIES holds several")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                        help="OUT.dcm (DICOM SEG) or a label map: .nii, .nii.gz, .nrrd, .mha")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the segment's statistics")
    parser.set_defaults(func=run)


def _point(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected X,Y,Z in mm, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from workstation.cli.convert import split_extension, write_volume

    as_seg = args.output.name.lower().endswith(".dcm")
    if not as_seg:
        split_extension(args.output)  # an unknown format is refused before any work
    if not args.output.parent.is_dir():
        raise WorkstationError("the output folder does not exist", args.output.parent)
    lower, upper = sorted(args.threshold)
    result = run_job(Job(_segment, args.series, args.series_uid, args.seed, lower, upper, args.name),
                     cli_progress() or no_progress)
    image, labels, stats = result
    if as_seg:
        from workstation.dicom.seg import write_seg

        write_seg(no_progress, None, labels, image, args.output, description=args.name)
    else:
        write_volume(labels.volume, args.output)
    summary = {"volume_ml": stats.volume_ml, "voxels": stats.voxels, "mean": stats.mean, "sd": stats.sd,
               "min": stats.minimum, "max": stats.maximum, "median": stats.median, "surface_mm2": stats.surface_mm2,
               "units": stats.units, "seed": args.seed, "threshold": [lower, upper], "name": args.name,
               "output": str(args.output)}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"{args.output}: {args.name}: {stats.voxels} voxels, {stats.volume_ml:.3f} mL, "
              f"mean {stats.mean:.1f} {stats.units}, SD {stats.sd:.1f}".rstrip())
    return 0


def _segment(progress: Progress, cancel: CancelFlag | None, series: Path, series_uid: str | None,
             seed: list[float], lower: float, upper: float, name: str) -> tuple[Volume, LabelMap, SegmentStatistics]:
    """Load the series, grow from the seed, measure the segment: a job."""
    from segmentation.grow import region_grow
    from segmentation.statistics import segment_statistics
    from workstation.dicom.load import load_volumes
    from workstation.labels import LabelMap, default_segment  # noqa: F811 - the runtime import
    from workstation.volume import sitk_array

    loaded = load_volumes(scaled_progress(progress, 0.0, 0.6), cancel, series, series_uid, allocate=sitk_array)
    if len(loaded.volumes) != 1:
        raise WorkstationError(f"holds {len(loaded.volumes)} volumes; name one with --series-uid", series)
    image = loaded.volumes[0]
    mask = region_grow(scaled_progress(progress, 0.6, 0.9), cancel, image, image, seed, lower, upper)
    segment = default_segment(1, name)
    segment.algorithm_type, segment.algorithm_name = "SEMIAUTOMATIC", "region growing"
    labels = LabelMap.empty_like(image, [segment])
    labels.array[mask] = 1
    [stats] = segment_statistics(scaled_progress(progress, 0.9, 1.0), cancel, labels, image)
    return image, labels, stats


