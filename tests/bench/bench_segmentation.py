"""Benchmark: segmentation on the cirs057a CT (512 x 512 x 283), peers measured in the same run.

Targets (issue 16): region growing <= 1.2 x SimpleITK's ConnectedThreshold
alone and <= 0.5 s; a 283-slice segment written as DICOM SEG <= 2 s and read
back <= 1 s; label maps stored at <= 1 byte per voxel. Measured (median of
REPEATS, alternating ours and the peers; the body grows once each):

- region growing from a seed in a dense rod insert (~100k voxels) and from
  a seed in the phantom's body (~16M voxels): ``segmentation.grow.region_grow``
  from the loaded Volume (its voxels live in a SimpleITK image:
  ``Volume.to_sitk`` shares them), and the peer: a ConnectedThresholdImageFilter
  on a SimpleITK image of the CT alone; also the copy a Volume whose voxels
  are a plain numpy array would cost (``GetImageFromArray``);
- SEG write (``write_seg``) of the body segment, one frame on each of the
  slices it touches, against its peer: highdicom's Segmentation
  construction plus pydicom's save alone (source headers already read),
  and that peer's two parts;
- SEG read (``read_seg`` onto the CT's grid) against pydicom's
  ``dcmread`` + ``pixel_array`` of the same file (the floor of any reader)
  and highdicom's ``segread`` + ``get_volume``.

Run: ``.venv/bin/python tests/bench/bench_segmentation.py`` (the CT
unpacked in .test-data), or ``.venv/bin/pytest tests/bench/bench_segmentation.py -s``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

REPEATS = 3
INSERT_SEED = (110.8, -1.9, -111.6)
BODY_SEED = (0.0, 0.0, -106.875)


def _alternate(fns: dict[str, Callable[[], object]], repeats: int = REPEATS) -> dict[str, float]:
    """Median seconds of each function, run in turn ``repeats`` times so load on a shared machine hits all alike."""
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in samples.items()}


def _table(title: str, medians: dict[str, float], labels: dict[str, str], base: str, prefix: str,
           results: dict[str, float]) -> None:
    """Print each median with its ratio to ``base``'s, and keep it in ``results`` as ``PREFIX_KEY_s``."""
    print(title)
    for key, label in labels.items():
        results[f"{prefix}_{key}_s"] = medians[key]
        print(f"  {label:45s} {medians[key]:7.3f} s  ({medians[key] / medians[base]:5.2f} x {labels[base]})")


def run(ct_folder: Path) -> dict[str, float]:
    import highdicom as hd
    import numpy as np
    import pydicom
    import SimpleITK as sitk

    from segmentation.grow import region_grow
    from workstation.dicom.load import load_volumes
    from workstation.dicom.seg import _description, read_seg, read_source_headers, write_seg
    from workstation.jobs import no_progress
    from workstation.labels import LabelMap, default_segment
    from workstation.volume import sitk_array

    warnings.filterwarnings("ignore", message=".*intended person name.*")
    [ct] = load_volumes(no_progress, None, ct_folder, allocate=sitk_array).volumes  # as the CLI loads
    image = sitk.GetImageFromArray(ct.array)  # the peer's own image, not ours
    image.CopyInformation(ct.to_sitk())
    results: dict[str, float] = {}
    print(f"\nCT {ct.shape_ijk} {ct.array.dtype}")
    for name, seed, lower, upper in (("insert", INSERT_SEED, 150, 2000), ("body", BODY_SEED, -100, 100)):
        index = tuple(int(v) for v in np.rint(ct.world_to_index(seed)))

        def peer(index: tuple[int, ...] = index, lower: float = lower, upper: float = upper) -> None:
            grower = sitk.ConnectedThresholdImageFilter()
            grower.SetSeedList([index])
            grower.SetLower(lower)
            grower.SetUpper(upper)
            grower.SetConnectivity(grower.FaceConnectivity)
            grower.Execute(image)

        medians = _alternate({
            "peer": peer,
            "volume": lambda s=seed, lo=lower, hi=upper: region_grow(no_progress, None, ct, ct, s, lo, hi),
            "copy": lambda: sitk.GetImageFromArray(ct.array)},
            REPEATS if name == "insert" else 1)  # the body takes ITK tens of seconds: one turn each
        voxels = int(region_grow(no_progress, None, ct, ct, seed, lower, upper).sum())
        _table(f"region growing, {name} ({voxels} voxels):", medians,
               {"peer": "ConnectedThreshold alone", "volume": "region_grow from the Volume",
                "copy": "(a numpy-held CT copied to SimpleITK)"}, "peer", f"grow_{name}", results)

    body = region_grow(no_progress, None, ct, ct, BODY_SEED, -100, 100)
    labels = LabelMap.empty_like(ct, [default_segment(1, "body")])
    labels.array[body] = 1
    print(f"label map: {labels.array.dtype}, {labels.array.nbytes / labels.array.size:.0f} byte(s) per voxel, "
          f"{int(np.count_nonzero(labels.array.any(axis=(1, 2))))} slices with a segment")
    results["label_bytes_per_voxel"] = labels.array.nbytes / labels.array.size
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "seg.dcm"
        headers = read_source_headers(ct)
        order = sorted(range(len(headers)), key=lambda n: float(headers[n].ImagePositionPatient[2]))
        sources = [headers[n] for n in order]

        def construct() -> hd.seg.Segmentation:
            return hd.seg.Segmentation(sources, labels.array, "BINARY", [_description(1, labels.segments[0])],
                                       hd.UID(), 1, hd.UID(), 1, "w", "w", "1", "0", omit_empty_frames=True)

        built = construct()
        timings = _alternate({"ours": lambda: write_seg(no_progress, None, labels, ct, out),
                              "highdicom": lambda: construct().save_as(Path(folder) / "peer.dcm"),
                              "construct": construct, "save": lambda: built.save_as(Path(folder) / "peer.dcm")})
        _table(f"SEG write, {int(built.NumberOfFrames)} frames ({out.stat().st_size / 2**20:.1f} MB):", timings,
               {"ours": "write_seg", "highdicom": "highdicom Segmentation + save alone",
                "construct": "  of which Segmentation()", "save": "  of which save_as"}, "highdicom", "seg_write",
               results)

        read = _alternate({"ours": lambda: read_seg(out, ct), "pydicom": lambda: pydicom.dcmread(out).pixel_array,
                           "highdicom": lambda: hd.seg.segread(out).get_volume()})
        [back] = read_seg(out, ct)
        assert np.array_equal(back.array, labels.array)
        _table("SEG read onto the CT grid:", read,
               {"ours": "read_seg", "pydicom": "pydicom dcmread + pixel_array",
                "highdicom": "highdicom segread + get_volume"}, "pydicom", "seg_read", results)
    print("targets: growing <= 1.2 x ConnectedThreshold and <= 0.5 s; SEG write <= 2 s, read <= 1 s; "
          "labels <= 1 byte per voxel")
    return results


def test_bench_segmentation(cirs_ct):
    run(cirs_ct)


if __name__ == "__main__":
    run(ROOT / ".test-data" / "cirs057a" / "ct")
