"""Label maps: integer voxels on an image's exact grid, with a table of named, coloured segments.

Why one type: the viewer's labels layer, the segmentation tools, DICOM SEG and
RTSTRUCT import/export, NIfTI/NRRD label maps, registration masks and
experiment Dice all hand the same thing around. A voxel's value is its
segment's number (0 is background), so a map costs at most one byte a voxel
for up to 255 segments (uint16 beyond). Overlapping segments (allowed in
DICOM SEG) cannot share one map: readers return several ``LabelMap`` objects,
each holding segments that do not overlap.

numpy and the Volume only: no Qt, VTK or DICOM here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from workstation.volume import Volume, VolumeMeta


@dataclass(frozen=True)
class Code:
    """A coded concept (DICOM code sequence item), e.g. SCT 49755003 "Morphologically altered structure"."""

    value: str
    scheme: str
    meaning: str


# Defaults for a segment a user draws without choosing codes (DICOM SEG requires them).
TISSUE = Code("85756007", "SCT", "Tissue")
ORGAN = Code("113343008", "SCT", "Organ")
LESION = Code("52988006", "SCT", "Lesion")

# A palette for new segments, Slicer-like: distinguishable on grey images.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 174, 128), (241, 214, 145), (177, 122, 101), (111, 184, 210), (216, 101, 79),
    (221, 130, 101), (144, 238, 144), (192, 104, 88), (220, 245, 20), (78, 63, 0),
)


@dataclass
class Segment:
    """One segment: its number in the map, what it is, and how it is shown."""

    number: int
    label: str
    colour: tuple[int, int, int] = PALETTE[0]
    category: Code = TISSUE
    type: Code = TISSUE
    algorithm_type: str = "MANUAL"  # DICOM SEG: MANUAL, SEMIAUTOMATIC, AUTOMATIC
    algorithm_name: str = ""
    visible: bool = True
    opacity: float = 0.5


def default_segment(number: int, label: str | None = None) -> Segment:
    """A new segment with a palette colour picked by its number."""
    return Segment(number, label or f"Segment {number}", PALETTE[(number - 1) % len(PALETTE)])


@dataclass
class LabelMap:
    """Integer voxels (value = segment number) on a Volume's grid, and the segments they name.

    ``volume.array`` is uint8 (uint16 past 255 segments), 3D, on the exact
    affine of the image it segments (or of the file it came from).
    """

    volume: Volume
    segments: list[Segment] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.volume.array.ndim != 3 or self.volume.array.dtype.kind not in "ui":
            array = self.volume.array
            raise ValueError(f"a label map is a 3D integer array, got {array.dtype} {array.shape}")

    @classmethod
    def empty_like(cls, image: Volume, segments: list[Segment] | None = None) -> LabelMap:
        """An all-background map on ``image``'s grid (its first time point for 4D)."""
        dtype = np.uint16 if segments and max(s.number for s in segments) > 255 else np.uint8
        array = np.zeros(image.array.shape[-3:], dtype=dtype)
        volume = replace(image, array=array, meta=VolumeMeta(modality="SEG", series_uid="",
                                                             frame_of_reference_uid=image.meta.frame_of_reference_uid))
        return cls(volume, list(segments or []))

    @property
    def array(self) -> np.ndarray:
        return self.volume.array

    def segment(self, number: int) -> Segment:
        for segment in self.segments:
            if segment.number == number:
                return segment
        raise KeyError(f"no segment {number}")

    def mask(self, number: int) -> np.ndarray:
        """The boolean mask of one segment (a new array)."""
        return self.volume.array == number

    def mask_volume(self, number: int) -> Volume:
        """One segment as a uint8 0/1 Volume on the map's grid: what registration takes as a fixed or moving mask."""
        return replace(self.volume, array=self.mask(number).astype(np.uint8), meta=replace(self.volume.meta))

    def next_number(self) -> int:
        return max((s.number for s in self.segments), default=0) + 1


def segment_mask(maps: list[LabelMap], which: str | None = None) -> Volume:
    """One segment of ``maps`` (by number, or by label when ``which`` is not a number), or all of them for None,
    as a uint8 0/1 Volume: a registration mask from a SEG or RTSTRUCT. ValueError names what is missing."""
    if which is None:
        union = np.logical_or.reduce([labels.array != 0 for labels in maps])
        return replace(maps[0].volume, array=union.astype(np.uint8), meta=replace(maps[0].volume.meta))
    for labels in maps:
        for segment in labels.segments:
            if str(segment.number) == which.strip() or segment.label == which:
                return labels.mask_volume(segment.number)
    names = ", ".join(f"{s.number} {s.label}" for s in sorted((s for labels in maps for s in labels.segments),
                                                               key=lambda s: s.number))
    raise ValueError(f"no segment {which!r} (there are: {names})")


Piece = tuple[int, int, int, np.ndarray]
"""A segment's voxels on one slice: (k, j, i) of the top-left voxel and a 2D boolean mask (rows, columns)."""


def deal(grid: Volume, segments: list[Segment], pieces: dict[int, list[Piece]], meta: VolumeMeta) -> list[LabelMap]:
    """Segments given as slice pieces, dealt into the fewest maps on ``grid`` in which none overlaps another.

    Segments go in number order into the first map where none of their
    voxels is taken, so files without overlap give one map. Readers of SEG
    and RTSTRUCT, where segments may overlap, share this.
    """
    largest = max(s.number for s in segments)
    layers: list[tuple[np.ndarray, list[Segment]]] = []
    for segment in sorted(segments, key=lambda s: s.number):
        own = pieces.get(segment.number, [])
        target = next((layer for layer in layers if not any(
            np.logical_and(layer[0][k, j:j + m.shape[0], i:i + m.shape[1]], m).any() for k, j, i, m in own)), None)
        if target is None:
            target = (np.zeros(grid.array.shape[-3:], dtype=np.uint8 if largest <= 255 else np.uint16), [])
            layers.append(target)
        for k, j, i, m in own:
            np.copyto(target[0][k, j:j + m.shape[0], i:i + m.shape[1]], segment.number, where=m)
        target[1].append(segment)
    spacing, origin, direction = grid.geometry_parts()
    return [LabelMap(Volume.from_parts(array, spacing, origin, direction, replace(meta)), segs)
            for array, segs in layers]
