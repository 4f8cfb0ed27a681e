"""A small ready-to-run cohort made from the demo study, with its experiment file.

Why: a researcher trying ``workstation experiment`` for the first time, the
tests and the benchmark all need pairs whose true alignment is known and
whose registration takes a second, not a minute. The demo study's CT and MR
(a synthetic head with a known rigid offset) are smoothed and resampled to a
coarse grid and written as NIfTI; a second pair moves the MR's placement
further by a known shift. Landmarks and label maps come from the phantom's
definition, so TRE and Dice measure against the truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import yaml

from workstation import demo, geometry
from workstation.dicom.load import load_volumes
from workstation.jobs import CancelFlag, Progress, check_cancel, no_progress, scaled_progress

SHIFT_MM = (6.0, -4.0, 5.0)
"""Extra placement offset of the second pair's moving image (LPS mm), so the cohort holds two problems."""
EXPERIMENT_FILE = "experiment.yaml"
SHORT = {"levels.*.iterations": 25, "search.enabled": False}
"""The example's quick variant: few iterations per level and no orientation search (the demo offset is small)."""


def _read_series(folder: Path) -> sitk.Image:
    return sitk.Cast(load_volumes(no_progress, None, folder).volumes[0].to_sitk(), sitk.sitkFloat32)


def _downsample(image: sitk.Image, spacing_mm: float) -> sitk.Image:
    """The same field of view on a coarse grid, smoothed first so the small image is not aliased."""
    size = [int(round(n * s / spacing_mm)) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    smooth = sitk.SmoothingRecursiveGaussian(image, spacing_mm / 2)
    return sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(),
                         (spacing_mm,) * 3, image.GetDirection(), 0.0, sitk.sitkFloat32)


def _labels_on(image: sitk.Image, to_ct) -> sitk.Image:
    """The phantom's tissue labels on ``image``'s grid; ``to_ct`` maps its LPS frame to the CT frame."""
    affine = geometry.affine_from(image.GetSpacing(), image.GetOrigin(), image.GetDirection())
    k, j, i = np.meshgrid(*(np.arange(n) for n in image.GetSize()[::-1]), indexing="ij")
    points = geometry.apply(affine, np.stack([i, j, k], axis=-1).astype(np.float64))
    labels = sitk.GetImageFromArray(demo.tissue_labels(to_ct(points)))
    labels.CopyInformation(image)
    return labels


def _placed(image: sitk.Image, shift: np.ndarray) -> sitk.Image:
    """The same voxels placed ``shift`` mm further in LPS: the anatomy moves by ``shift``."""
    moved = sitk.Image(image)
    moved.SetOrigin(tuple(np.asarray(image.GetOrigin()) + shift))
    return moved


def write_example(progress: Progress, cancel: CancelFlag | None, folder: Path, spacing_mm: float = 4.0) -> Path:
    """Write the cohort and ``experiment.yaml`` into ``folder``; a job. Returns the experiment file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study = demo.write_demo_study(scaled_progress(progress, 0.0, 0.6), cancel, folder / "demo-study")
    truth = demo.read_ground_truth(study)
    check_cancel(cancel)
    progress(0.7, "resampling the demo study")
    ct = _downsample(_read_series(study / "CT"), spacing_mm)
    mr = _downsample(_read_series(study / "MR"), spacing_mm)
    shift = np.asarray(SHIFT_MM)
    images = {"ct": ct, "ct_labels": _labels_on(ct, lambda p: p)}
    mr_labels = _labels_on(mr, demo.mr_to_ct)
    for stem, offset in (("mr", np.zeros(3)), ("mr_shifted", shift)):
        check_cancel(cancel)
        images[stem] = _placed(mr, offset)
        images[f"{stem}_labels"] = _placed(mr_labels, offset)
    for stem, image in images.items():
        sitk.WriteImage(image, str(folder / f"{stem}.nii.gz"))
    names = list(truth["landmarks"])
    rows = ["name,x,y,z"] + [f"{n},{','.join(repr(v) for v in truth['landmarks'][n]['ct'])}" for n in names]
    (folder / "ct_points.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    # The moving points are listed in reverse order: they pair with the fixed ones by name.
    for stem, offset in (("mr", np.zeros(3)), ("mr_shifted", shift)):
        points = [{"name": n, "position": (np.asarray(truth["landmarks"][n]["mr"]) + offset).tolist()}
                  for n in reversed(names)]
        (folder / f"{stem}_points.json").write_text(json.dumps({"points": points}, indent=1), encoding="utf-8")
    spec = folder / EXPERIMENT_FILE
    spec.write_text(yaml.safe_dump(example_spec(), sort_keys=False), encoding="utf-8")
    progress(1.0, f"example experiment written: {spec}")
    return spec


def pair_entry(name: str, moving: str = "mr") -> dict[str, str]:
    """An experiment-file pair of the example cohort (paths relative to its folder)."""
    return {"name": name, "fixed": "ct.nii.gz", "moving": f"{moving}.nii.gz",
            "fixed_landmarks": "ct_points.csv", "moving_landmarks": f"{moving}_points.json",
            "fixed_labels": "ct_labels.nii.gz", "moving_labels": f"{moving}_labels.nii.gz"}


def example_spec() -> dict:
    """The example experiment: both pairs, the rigid preset at its defaults and shortened, two seeds."""
    return {"name": "demo-cohort", "pairs": [pair_entry("head"), pair_entry("shifted", "mr_shifted")],
            "presets": ["ct-mr-rigid"], "overrides": {"default": {}, "short": SHORT},
            "seeds": [0, 1], "threads": 1}
