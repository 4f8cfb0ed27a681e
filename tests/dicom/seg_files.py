"""SEGs written by highdicom (another tool than ours) on real images, for tests of our readers."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes


def highdicom_seg(images: Path, masks: np.ndarray, kind: str = "BINARY") -> hd.seg.Segmentation:
    """A SEG on the images of a folder (one slice per file, sorted by z): masks (slices, rows, columns, segments)."""
    sources = sorted((pydicom.dcmread(p) for p in images.iterdir()), key=lambda d: float(d.ImagePositionPatient[2]))
    descriptions = [hd.seg.SegmentDescription(n, f"S{n}", codes.SCT.Tissue, codes.SCT.Tissue, "MANUAL")
                    for n in range(1, masks.shape[-1] + 1)]
    return hd.seg.Segmentation(sources, masks, kind, descriptions, hd.UID(), 1, hd.UID(), 1, "test", "test", "1", "1",
                               max_fractional_value=200)


def overlapping_masks(shape: tuple[int, int, int]) -> np.ndarray:
    """Three segments: the second overlaps the first on one slice, the third overlaps neither."""
    masks = np.zeros((*shape, 3), dtype=np.uint8)
    masks[0:2, 5:20, 4:12, 0] = 1
    masks[1:3, 10:30, 8:20, 1] = 1
    masks[2, 30:35, 2:6, 2] = 1
    return masks
