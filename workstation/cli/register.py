"""``workstation register FIXED MOVING --preset NAME -o OUT.tfm``: register two volumes, write the transform.

FIXED and MOVING are DICOM folders (or files) holding one volume each, or
image files SimpleITK reads (.nii, .nii.gz, .nrrd, .mha, .mhd). The transform
written maps fixed-space points to moving-space points (ITK's convention):
.tfm or .h5 for ITK tools, .json for the 4x4 matrices in LPS and RAS.
A deformable (B-spline) result is a composite transform: write it as .h5
(or .tfm), which SimpleITK's ``ReadTransform`` reads back whole.
``--resampled`` also writes the moving volume on the fixed grid. ``--json``
prints one object (preset, seconds, iterations, metric, matrix_lps,
parameters, init, seed, threads, kept_start, start_check); progress goes to
stderr. When the run ended worse than its start (metric and foreground
overlap on the final level), the start is written and the output says so.
Bad input (a single slice, a label map, an empty mask, images that do not
overlap at all) is one line on stderr, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from workstation.cli.info import report_skipped
from workstation.errors import RegistrationError, Skipped
from workstation.image_io import split_extension, write_volume
from workstation.jobs import no_progress

if TYPE_CHECKING:
    from registration.runner import IterationEvent
    from workstation.volume import Volume

TRANSFORM_SUFFIXES = (".tfm", ".txt", ".h5", ".hdf5", ".json")
INITS = ("auto", "geometry", "moments", "search", "scanner")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("register", help="register a moving volume to a fixed one",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("fixed", type=Path, metavar="FIXED", help="DICOM folder or image file (stays put)")
    parser.add_argument("moving", type=Path, metavar="MOVING", help="DICOM folder or image file (is moved)")
    parser.add_argument("--preset", default="ct-mr-rigid", help="registration preset (default ct-mr-rigid)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT",
                        help="transform file: " + ", ".join(TRANSFORM_SUFFIXES))
    parser.add_argument("--resampled", type=Path, metavar="IMAGE",
                        help="also write the moving volume resampled onto the fixed grid (.nii.gz, .nrrd, .mha)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the metric sampling (same seed, same result)")
    parser.add_argument("--init", choices=INITS, default="auto", help="how to start (default auto)")
    parser.add_argument("--threads", type=int, default=None, help="search candidates optimised side by side")
    parser.add_argument("--fixed-mask", metavar="MASK",
                        help="where the metric samples: non-zero voxels of this image (on any grid), or a "
                             "segment of a DICOM SEG or RTSTRUCT: SEG.dcm:SEGMENT (number or label; all without)")
    parser.add_argument("--moving-mask", metavar="MASK", help="the moving image's region to match (as --fixed-mask)")
    parser.add_argument("--json", action="store_true", help="print one JSON object describing the result")
    parser.set_defaults(func=run)


def load_checked(path: Path, check: Callable[[Volume], None]) -> Volume:
    """``load_one``, then ``check`` (a ``registration.fit`` check); its refusal names the file."""
    volume = load_one(path)
    try:
        check(volume)
    except RegistrationError as exc:
        raise RegistrationError(exc.reason, path) from exc
    return volume


def load_mask(spec: str) -> Volume:
    """A mask given as an image, or as ``SEG.dcm[:SEGMENT]`` (a DICOM SEG or RTSTRUCT, one segment or all).

    The SEG lies on the images beside it, or on its own geometry; masks may
    lie on any grid. Refusals name the file.
    """
    from registration.fit import check_mask
    from workstation.cli.label_objects import label_object_paths, open_maps
    from workstation.labels import segment_mask

    path, which = Path(spec), None
    if not path.exists() and ":" in spec:
        head, which = spec.rsplit(":", 1)
        path = Path(head)
    if not label_object_paths([path]):
        if which is not None:
            raise RegistrationError(f"a segment ({which}) can only be picked from a DICOM SEG or RTSTRUCT", path)
        return load_checked(path, check_mask)
    try:
        mask = segment_mask(open_maps(path, None), which)
        check_mask(mask)
    except (ValueError, RegistrationError) as exc:
        raise RegistrationError(getattr(exc, "reason", str(exc)), path) from exc
    return mask


def load_one(path: Path) -> Volume:
    """The single 3D volume at ``path`` (``workstation.opening.open_volume``), its left-out files reported."""
    from workstation.opening import open_volume
    from workstation.volume import sitk_array

    skipped: list[Skipped] = []
    volume = open_volume(no_progress, None, path, skipped=skipped, allocate=sitk_array)
    report_skipped("register", skipped)
    if volume.array.ndim != 3:
        raise RegistrationError("registration needs a 3D volume, this one has time points", path)
    return volume


class StderrIterations:
    """Iteration events as progress lines on stderr, at most one every ``interval`` seconds."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._last = 0.0

    def __call__(self, event: IterationEvent) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        where = f"level {event.level}" if event.stage == "level" else f"{event.stage} candidate {event.candidate}"
        print(f"[register] {where} iteration {event.iteration} metric {event.metric:.5f}", file=sys.stderr,
              flush=True)


def run(args: argparse.Namespace) -> int:
    if not args.output.name.lower().endswith(TRANSFORM_SUFFIXES):
        raise RegistrationError(f"unknown transform file type; use {', '.join(TRANSFORM_SUFFIXES)}", args.output)
    for out in (args.output, args.resampled):
        if out is not None and not out.parent.is_dir():
            raise RegistrationError("the output folder does not exist", out.parent)
    if args.resampled is not None:
        split_extension(args.resampled)  # refuse an unknown image format before the work
    from registration.fit import check_volume
    from registration.parameters import load_preset
    from registration.resample import resample_to
    from registration.runner import register
    from registration.transforms import write_transform

    params = load_preset(args.preset)
    masks = {f"{name}_mask": load_mask(spec)  # small, and often what is mistyped: refused before the images load
             for name, spec in (("fixed", args.fixed_mask), ("moving", args.moving_mask)) if spec is not None}
    fixed, moving = load_checked(args.fixed, check_volume), load_checked(args.moving, check_volume)
    result = register(fixed, moving, params, init=args.init, seed=args.seed, threads=args.threads,
                      on_iteration=StderrIterations(), **masks)
    write_transform(result.transform, args.output)
    if args.resampled is not None:
        write_volume(resample_to(fixed, moving, result.transform), args.resampled)
    summary = {"preset": args.preset, "seconds": result.seconds, "iterations": result.iterations,
               "metric": result.metric, "matrix_lps": result.matrix_lps.tolist(),
               "maps": "fixed-space points to moving-space points", "parameters": params.to_dict(),
               "init": result.init, "seed": result.seed, "threads": result.threads, "transform": str(args.output),
               "kept_start": result.kept_start, "start_check": result.start_check}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.output}: {result.summary()}")
        for row in result.matrix_lps:
            print("  " + " ".join(f"{v:12.6f}" for v in row))
    return 0
