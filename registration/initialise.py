"""Where a registration starts: centres, moments, landmarks, a manual transform, or a global orientation search.

A local optimiser only walks downhill from its start. When two scans of the
same object differ in placement by far more than that (the cirs057a phantom
is turned half round about its anterior-posterior axis between its CT and MR,
although both headers say HFS), the start must already be in the right basin.
``orientation_search`` finds it by trying every gross orientation. Every
initialiser returns a 4x4 LPS matrix mapping fixed-space points to
moving-space points; the runner turns it into the transform it optimises.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from registration.context import RunContext
from registration.masks import body_mask, principal_axes  # noqa: F401 - part of this module's API
from registration.transforms import matrix_lps, transform_from_matrix
from workstation.errors import RegistrationError
from workstation.jobs import check_cancel
from workstation.volume import Volume


def translation_matrix(shift: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = shift
    return m


def geometric_centres(fixed: Volume, moving: Volume) -> np.ndarray:
    """Shift the fixed grid's centre onto the moving grid's centre; no rotation."""
    return translation_matrix(moving.center() - fixed.center())


def centres_of_mass(fixed_centre: np.ndarray, moving_centre: np.ndarray,
                    rotation: np.ndarray | None = None) -> np.ndarray:
    """Map ``fixed_centre`` onto ``moving_centre``, turning by ``rotation`` (3x3, LPS) about it."""
    r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    m = np.eye(4)
    m[:3, :3] = r
    m[:3, 3] = moving_centre - r @ fixed_centre
    return m


def moments(ctx: RunContext) -> np.ndarray:
    """Align the centres of mass of the two body masks (the caller's masks when given); no rotation.

    Masks rather than intensities, because a CT's and an MR's intensity
    centres of mass differ wherever bone and fat differ.
    """
    return centres_of_mass(ctx.centroid("fixed"), ctx.centroid("moving"))


def from_landmarks(fixed_points: np.ndarray, moving_points: np.ndarray, kind: str = "rigid") -> np.ndarray:
    """Least-squares matrix taking fixed landmarks to their paired moving landmarks (LPS, N x 3).

    ``rigid`` is Kabsch's solution (rotation and shift, no reflection; three
    non-collinear pairs at least); ``affine`` a plain linear least squares
    (four non-coplanar pairs at least).
    """
    f = np.asarray(fixed_points, dtype=np.float64).reshape(-1, 3)
    m = np.asarray(moving_points, dtype=np.float64).reshape(-1, 3)
    if f.shape != m.shape:
        raise RegistrationError(f"{len(f)} fixed landmarks but {len(m)} moving ones: they must pair up")
    needed = 3 if kind == "rigid" else 4
    if len(f) < needed:
        raise RegistrationError(f"a {kind} landmark registration needs at least {needed} point pairs, got {len(f)}")
    fc, mc = f.mean(axis=0), m.mean(axis=0)
    if kind == "affine":
        homogeneous = np.hstack([f, np.ones((len(f), 1))])
        solution, _, rank, _ = np.linalg.lstsq(homogeneous, m, rcond=None)
        if rank < 4:
            raise RegistrationError("the fixed landmarks are coplanar: an affine is undetermined")
        out = np.eye(4)
        out[:3, :] = solution.T
        return out
    u, s, vt = np.linalg.svd((f - fc).T @ (m - mc))
    if s[1] < 1e-6 * max(s[0], 1e-12):
        raise RegistrationError("the fixed landmarks are collinear: a rotation is undetermined")
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return centres_of_mass(fc, mc, rotation)


def manual(transform: sitk.Transform | np.ndarray) -> np.ndarray:
    """A caller's starting transform (an ITK transform or a 4x4 LPS matrix) as a matrix."""
    if isinstance(transform, sitk.Transform):
        return matrix_lps(transform, linear_part=True)
    m = np.asarray(transform, dtype=np.float64)
    if m.shape != (4, 4):
        raise RegistrationError(f"a manual transform must be 4x4, got shape {m.shape}")
    return m


def axis_rotations() -> list[np.ndarray]:
    """The 24 rotations that map the coordinate axes onto themselves (a cube's symmetries), identity first."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            r = np.zeros((3, 3))
            r[range(3), perm] = signs
            if np.linalg.det(r) > 0:
                out.append(r)
    return out


def describe_rotation(rotation: np.ndarray) -> str:
    """``"identity"`` or ``"180 deg about P"``-style text for a (near) axis-aligned rotation."""
    r = np.asarray(rotation, dtype=np.float64)
    angle = float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))
    if angle < 1e-6:
        return "identity"
    if abs(angle - 180) < 1e-6:
        outer = (r + np.eye(3)) / 2  # a half turn about unit axis a is 2 a a^T - I
        column = int(np.argmax(np.diag(outer)))
        axis = outer[:, column] / np.sqrt(outer[column, column])
    else:
        axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    axis = axis / np.linalg.norm(axis)
    letters = "".join(("LPS" if c > 0 else "RAI")[i] for i, c in enumerate(axis) if abs(c) > 1e-3)
    return f"{angle:.0f} deg about {letters}"


@dataclass
class Candidate:
    """One start tried by the orientation search and its metric at each stage it reached."""

    label: str
    start: np.ndarray
    transform: sitk.Transform
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "scores": dict(self.scores),
                "matrix_lps": matrix_lps(self.transform).tolist()}


@dataclass
class SearchOutcome:
    """The chosen start and every candidate's record, for the run's report."""

    matrix: np.ndarray
    label: str
    candidates: list[Candidate]


SCANNER = "scanner placement"


def search_starts(ctx: RunContext, rotations: bool = True) -> list[tuple[str, np.ndarray]]:
    """The scanner placement, then the 24 axis-aligned turns about the body centres (or only their alignment)."""
    fixed_centre, moving_centre = ctx.centroid("fixed"), ctx.centroid("moving")
    starts = [(SCANNER, np.eye(4))]
    for r in axis_rotations() if rotations else [np.eye(3)]:
        label = describe_rotation(r) if rotations else "centres of mass"
        starts.append((label, centres_of_mass(fixed_centre, moving_centre, r)))
    return starts


def _stage(ctx: RunContext, candidates: list[Candidate], name: str, spacing_mm: float, iterations: int,
           step_mm: float, sampling: float, level: int) -> list[Candidate]:
    """Optimise each candidate at one resolution and return them best first (ITK metrics fall as they improve).

    Candidates run side by side on ``ctx.threads`` Python threads (SimpleITK
    releases the GIL), each optimisation single-threaded, which keeps every
    candidate's result independent of the thread count.
    """
    ctx.metric_mask(ctx.images(spacing_mm)[0])  # build the shared images once, before the workers start

    def run(n: int) -> None:
        c = candidates[n]
        try:
            c.scores[name] = ctx.optimise_at(c.transform, spacing_mm=spacing_mm, smoothing_mm=0.0,
                                             iterations=iterations, step_mm=step_mm, sampling_percentage=sampling,
                                             level=level, stage=name, candidate=n).metric
        except RegistrationError:
            # ITK stops when the samples leave the moving image: such a start is no candidate, not a failed run
            c.scores[name] = float("inf")

    with ThreadPoolExecutor(max_workers=max(1, ctx.threads), thread_name_prefix="registration-search") as pool:
        futures = [pool.submit(run, n) for n in range(len(candidates))]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:
                future.cancel()
    return sorted(candidates, key=lambda c: (c.scores[name], candidates.index(c)))


def orientation_search(ctx: RunContext, rotations: bool = True) -> SearchOutcome:
    """Try every gross orientation, narrowing down over finer resolutions; return the best start.

    Candidates are rigid whatever the run's transform: scaling and shearing
    at a coarse level only let a wrong start cheat by shrinking into a
    region where the metric happens to be good.

    Stage ``search`` optimises all starts a little at a coarse level (every
    mask voxel sampled, so the scores are not noisy); ``refine`` carries the
    best few much further at a finer one; ``check`` compares again, at a
    finer level still, those whose refined scores are within the tie margin
    of the best, because a short coarse run can rank the right and a wrong
    orientation nearly equal. The scanner placement goes through every
    stage and is replaced only by a clearly better start (see
    ``SearchSettings``). Without ``rotations`` the only other start is the
    alignment of the body centres.
    """
    s = ctx.params.search
    centre = ctx.centroid("fixed")
    candidates = [Candidate(label, start, movable_transform(start, centre, "rigid"))
                  for label, start in search_starts(ctx, rotations)]
    scanner = candidates[0]
    ranked = _stage(ctx, candidates, "search", s.spacing_mm, s.iterations, s.step_mm, s.sampling, -1)
    kept = _with_scanner(ranked[: max(1, s.keep)], scanner)
    ranked = _stage(ctx, kept, "refine", s.refine_spacing_mm, s.refine_iterations, s.refine_step_mm,
                    s.refine_sampling, -1)
    best = ranked[0].scores["refine"]
    close = [c for c in ranked if c.scores["refine"] <= best + s.tie_margin * abs(best)]
    stage = "refine"
    if len(close) > 1:
        stage = "check"
        ranked = _stage(ctx, _with_scanner(close, scanner), "check", s.check_spacing_mm, s.check_iterations,
                        s.check_step_mm, s.check_sampling, -1)
    check_cancel(ctx.cancel)
    winner, held = ranked[0], scanner.scores[stage]
    clearly_better = (winner.scores[stage] < held - s.clear_margin * abs(held) if np.isfinite(held)
                      else np.isfinite(winner.scores[stage]))
    if not clearly_better:
        winner = scanner
    return SearchOutcome(matrix_lps(winner.transform), winner.label, candidates)


def _with_scanner(candidates: list[Candidate], scanner: Candidate) -> list[Candidate]:
    return candidates if scanner in candidates else [*candidates, scanner]


def movable_transform(matrix: np.ndarray, centre: np.ndarray, kind: str) -> sitk.Transform:
    """The transform the optimiser moves: rotations pivot about ``centre`` (the fixed body's centre).

    Pivoting about the body centre rather than the LPS origin decouples
    rotation from translation, which is what lets one step size serve both.
    """
    start = transform_from_matrix(matrix, centre)
    if kind == "rigid":
        if not isinstance(start, sitk.Euler3DTransform):
            raise RegistrationError("a rigid registration cannot start from a matrix that scales or shears")
        return start
    if kind == "similarity":
        t = sitk.Similarity3DTransform()
        t.SetCenter(tuple(centre))
        t.SetMatrix(tuple(np.asarray(matrix)[:3, :3].ravel()), 1e-6)
        t.SetTranslation(tuple(np.asarray(matrix)[:3, 3] + np.asarray(matrix)[:3, :3] @ centre - centre))
        return t
    if kind in ("affine", "bspline"):
        affine = sitk.AffineTransform(3)
        affine.SetCenter(tuple(centre))
        affine.SetMatrix(tuple(np.asarray(matrix)[:3, :3].ravel()))
        affine.SetTranslation(tuple(np.asarray(matrix)[:3, 3] + np.asarray(matrix)[:3, :3] @ centre - centre))
        return affine
    raise RegistrationError(f"unknown transform kind {kind!r}; use rigid, similarity, affine or bspline")
