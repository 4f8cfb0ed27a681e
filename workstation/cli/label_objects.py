"""``convert`` and ``info`` for DICOM SEG and RTSTRUCT files: label maps out, segments listed.

``workstation convert SEG.dcm|RTSTRUCT.dcm [--reference SERIES] -o labels.nii.gz``
writes a label map whose voxel value is the segment number; when segments
overlap, ``labels-1.nii.gz ... labels-N.nii.gz``, each holding segments that
do not overlap, and says so on stderr. ``workstation info SEG.dcm --json``
lists each file's segments with their labels and volumes. The referenced
series is taken from ``--reference`` or from the object's own folder; a SEG
without it is placed on its own geometry.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli.info import cli_progress
from workstation.errors import WorkstationError
from workstation.jobs import Job, no_progress, run_job

if TYPE_CHECKING:
    from workstation.labels import LabelMap


def label_object_paths(paths: list[Path]) -> bool:
    """True when every path is a SEG or RTSTRUCT file (what these commands then handle)."""
    from workstation.dicom.label_objects import object_kind

    return bool(paths) and all(Path(p).is_file() and object_kind(p) is not None for p in paths)


def open_maps(path: Path, reference: Path | None) -> list[LabelMap]:
    from workstation.dicom.label_objects import open_label_object

    return run_job(Job(open_label_object, path, reference), cli_progress() or no_progress)


def convert(args: argparse.Namespace) -> int:
    from workstation.cli.convert import split_extension, write_volume

    if len(args.paths) != 1:
        raise WorkstationError("give one SEG or RTSTRUCT file at a time")
    stem, extension = split_extension(args.output)
    maps = open_maps(args.paths[0], args.reference)
    paths = [args.output] if len(maps) == 1 else [args.output.with_name(f"{stem}-{n}{extension}")
                                                  for n in range(1, len(maps) + 1)]
    for labels, path in zip(maps, paths, strict=True):
        write_volume(labels.volume, path)
        names = ", ".join(f"{s.number} {s.label}" for s in labels.segments)
        print(f"{path}: {' x '.join(str(n) for n in labels.volume.shape_ijk)} {labels.array.dtype}; segments {names}")
        for warning in labels.volume.meta.warnings:
            print(f"  warning: {warning}")
    if len(maps) > 1:
        print(f"workstation convert: segments overlap: wrote {len(maps)} label maps, each of segments that do not "
              f"overlap ({', '.join(p.name for p in paths)})", file=sys.stderr)
    return 0


def info(args: argparse.Namespace) -> int:
    from workstation.dicom.label_objects import object_kind
    from workstation.dicom.seg import segments_summary

    described = []
    for path in args.paths:
        maps = open_maps(path, None)
        described.append({"path": str(path), "modality": object_kind(path),
                          "series_uid": maps[0].volume.meta.series_uid,
                          "referenced_series_uids": maps[0].volume.meta.extra.get("referenced_series_uids", []),
                          "label_maps": len(maps), "segments": segments_summary(maps),
                          "warnings": list(dict.fromkeys(w for m in maps for w in m.volume.meta.warnings))})
    if args.json:
        json.dump(described, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for item in described:
        print(f"{item['path']}: {item['modality']}, {len(item['segments'])} segment(s)")
        for s in item["segments"]:
            print(f"  {s['number']:>3}  {s['label']:24}  {s['voxels']:>10} voxels  {s['volume_ml']:10.3f} mL  "
                  f"{s['type']} ({s['algorithm_type']})")
    return 0
