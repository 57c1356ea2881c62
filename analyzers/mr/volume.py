"""Assemble an MR series (classic or multi-frame) into one sorted stack with its affine, after the
checks of ARCHITECTURE.md §3; each failed check raises :class:`NotAssessable` with a specific
reason.

Slices are ordered by ImagePositionPatient projected on the slice normal (row × column cosine),
never by InstanceNumber. Localizers (ImageType / FrameType LOCALIZER or SCOUT) make the series not
assessable rather than being dropped silently: a series that mixes them is ambiguous, and the
sender should send the whole-heart series alone (documented in docs/mr.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom

from .errors import NotAssessable
from .frames import Frame, frame_pixels, frames_from_datasets

__all__ = ["SeriesVolume", "assemble_volume", "check_geometry"]

#: two images share an orientation when their normals and row cosines agree to ~1°
_ORIENTATION_TOL = 0.9998
#: share of slice spacing within which two images count as the same position
_SAME_POSITION = 0.2
#: allowed relative deviation of a slice gap from the median spacing
_UNEVEN = 0.1


@dataclass
class SeriesVolume:
    """A sorted slice stack in patient space.

    ``data[k, j, i]`` is slice ``k`` (ascending along the normal), row ``j``, column ``i``;
    ``affine`` maps homogeneous index ``(i, j, k, 1)`` to patient LPS millimetres (DICOM
    patient coordinates: +x left, +y posterior, +z superior).
    """

    data: np.ndarray  # (n, rows, cols) float32, rescaled values
    affine: np.ndarray  # 4×4
    slice_spacing: float
    pixel_spacing: tuple[float, float]  # (row, column) mm

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        n, r, c = self.data.shape
        return n, r, c

    def corners(self) -> np.ndarray:
        """The 8 corner voxel centres in patient mm, ``(8, 3)``."""
        n, r, c = self.shape
        idx = np.array([[i, j, k, 1.0] for k in (0, n - 1) for j in (0, r - 1) for i in (0, c - 1)])
        return (self.affine @ idx.T).T[:, :3]


def _orientation_groups(frames: Sequence[Frame]) -> list[list[int]]:
    groups: list[list[int]] = []
    keys: list[tuple[np.ndarray, np.ndarray]] = []
    for i, f in enumerate(frames):
        for g, (n, r) in enumerate(keys):
            if float(np.dot(n, f.normal)) > _ORIENTATION_TOL and float(np.dot(r, f.row_cosine)) > _ORIENTATION_TOL:
                groups[g].append(i)
                break
        else:
            keys.append((f.normal, f.row_cosine))
            groups.append([i])
    return sorted(groups, key=len, reverse=True)


def _at_one_position(frames: Sequence[Frame], same: list[list[int]]) -> str:
    """Reason for several images at one position: echoes, phases, or plain duplicates."""
    multi = [g for g in same if len(g) > 1]
    echoes = any(len({frames[i].echo for i in g}) > 1 for g in multi)
    phases = any(len({frames[i].phase for i in g}) > 1 for g in multi)
    n = len(multi)
    if echoes:
        k = max(len({frames[i].echo for i in g}) for g in multi)
        return (f"several echoes at one slice position ({k} echo times at {n} positions); send one echo "
                "per series")
    if phases:
        k = max(len({frames[i].phase for i in g}) for g in multi)
        return (f"several cardiac phases / temporal positions at one slice position ({k} at {n} "
                "positions); whole-heart grading needs one 3D volume")
    return f"duplicate slices: {n} slice position(s) hold more than one image"


def check_geometry(frames: list[Frame], min_slices: int, min_extent_mm: float) -> tuple[list[Frame], float]:
    """Run the series checks; return the frames sorted along the normal and the slice spacing.

    Raises :class:`NotAssessable` with the specific reason for the first failed check.
    """
    n_loc = sum(f.localizer for f in frames)
    if n_loc:
        raise NotAssessable(
            f"series contains {n_loc} localizer image(s) (ImageType LOCALIZER/SCOUT) among "
            f"{len(frames)}; send the whole-heart series without localizers"
        )
    groups = _orientation_groups(frames)
    if len(groups) > 1:
        minority = len(frames) - len(groups[0])
        if minority <= 3 and minority <= 0.1 * len(frames):
            raise NotAssessable(
                f"{minority} image(s) have an orientation different from the other {len(groups[0])} "
                "(orientation outliers, probably localizer images mixed into the series)"
            )
        raise NotAssessable(f"mixed orientations: the images lie in {len(groups)} different orientations")
    first = frames[0]
    for f in frames[1:]:
        if (f.rows, f.columns) != (first.rows, first.columns) or not np.allclose(
            f.pixel_spacing, first.pixel_spacing, rtol=1e-3, atol=1e-4
        ):
            raise NotAssessable("images of the series differ in size or pixel spacing")
    normal = first.normal
    d = np.array([float(np.dot(f.position, normal)) for f in frames])
    order = np.argsort(d, kind="stable")
    d_sorted = d[order]
    gaps = np.diff(d_sorted)
    positive = gaps[gaps > 1e-3]
    if positive.size == 0:
        if len(frames) > 1:
            raise NotAssessable(_at_one_position(frames, [list(range(len(frames)))]))
        raise NotAssessable(f"only 1 slice; at least mr.min_slices = {min_slices} are needed")
    spacing = float(np.median(positive))
    # several images at one position: group runs closer than a fraction of the spacing
    same: list[list[int]] = [[int(order[0])]]
    for gap, idx in zip(gaps, order[1:], strict=True):
        if gap < _SAME_POSITION * spacing:
            same[-1].append(int(idx))
        else:
            same.append([int(idx)])
    if any(len(g) > 1 for g in same):
        raise NotAssessable(_at_one_position(frames, same))
    n = len(frames)
    if n < min_slices:
        raise NotAssessable(f"only {n} slices; at least mr.min_slices = {min_slices} are needed")
    ratio = gaps / spacing
    steps = np.round(ratio)
    missing = (steps >= 2) & (np.abs(ratio - steps) < 0.2)
    if missing.any():
        n_missing = int((steps[missing] - 1).sum())
        raise NotAssessable(
            f"missing slice(s): {n_missing} slice(s) absent from the stack (slice spacing {spacing:.2f} mm, "
            f"{int(missing.sum())} gap(s))"
        )
    if np.max(np.abs(ratio - 1.0)) > _UNEVEN:
        raise NotAssessable(
            f"uneven slice spacing: gaps range from {gaps.min():.2f} to {gaps.max():.2f} mm "
            f"(median {spacing:.2f} mm)"
        )
    sorted_frames = [frames[int(i)] for i in order]
    # the in-plane offset must not drift between slices (a sheared stack is not one volume)
    rel = np.array([f.position - sorted_frames[0].position for f in sorted_frames])
    inplane = rel - np.outer(rel @ normal, normal)
    steps_inplane = np.linalg.norm(np.diff(inplane, axis=0), axis=1)
    if steps_inplane.size and steps_inplane.max() > 0.5 * min(first.pixel_spacing) + 1e-3:
        raise NotAssessable("slice positions do not lie on one line along the slice normal (sheared stack)")
    extent = n * spacing
    if extent < min_extent_mm:
        raise NotAssessable(
            f"slab is {extent:.1f} mm thick, thinner than mr.min_extent_mm = {min_extent_mm:g} mm"
        )
    return sorted_frames, spacing


def assemble_volume(
    datasets: Sequence[pydicom.Dataset], min_slices: int = 40, min_extent_mm: float = 60.0
) -> SeriesVolume:
    """Checks + pixels: the series as a :class:`SeriesVolume` (raises :class:`NotAssessable`)."""
    frames = frames_from_datasets(datasets)
    sorted_frames, spacing = check_geometry(frames, min_slices, min_extent_mm)
    data = frame_pixels(datasets, sorted_frames)
    if not np.all(np.isfinite(data)):
        raise NotAssessable("pixel data holds non-finite values")
    f0 = sorted_frames[0]
    rs, cs = f0.pixel_spacing
    normal = f0.normal
    # sign of the slice axis: from slice 0 towards the last (ascending along the normal)
    affine = np.eye(4)
    affine[:3, 0] = f0.row_cosine * cs  # column index i moves along the row cosine
    affine[:3, 1] = f0.col_cosine * rs  # row index j moves along the column cosine
    affine[:3, 2] = normal * spacing
    affine[:3, 3] = f0.position
    return SeriesVolume(data=data, affine=affine, slice_spacing=spacing, pixel_spacing=(rs, cs))
