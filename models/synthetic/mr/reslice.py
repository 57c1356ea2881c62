"""Slice stacks in patient geometry: axial, coronal, sagittal and oblique reformats of a volume.

A :class:`SliceStack` holds what a classic or enhanced MR series needs per slice: pixel arrays
(rows, columns), Image Position (Patient) of each slice's first pixel, Image Orientation
(Patient) and spacings, all in DICOM LPS millimetres (PS3.3 C.7.6.2.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["ORIENTATIONS", "SliceStack", "reformat"]

ORIENTATIONS: tuple[str, ...] = ("axial", "coronal", "sagittal", "oblique")


@dataclass(frozen=True)
class SliceStack:
    """Slices (s, rows, cols) with their LPS geometry; ``positions[s]`` is slice s's IPP."""

    pixels: np.ndarray
    positions: np.ndarray
    row_dir: np.ndarray
    col_dir: np.ndarray
    pixel_spacing: tuple[float, float]  # (between rows, between columns) as PixelSpacing
    slice_spacing: float
    orientation: str

    @property
    def normal(self) -> np.ndarray:
        """Slice normal (row × column direction)."""
        return np.cross(self.row_dir, self.col_dir)

    @property
    def iop(self) -> list[float]:
        """Image Orientation (Patient): row direction cosines, then column direction cosines."""
        return [float(round(v, 8)) + 0.0 for v in (*self.row_dir, *self.col_dir)]


def _direct(vol: np.ndarray, spacing: tuple[float, float, float], origin: np.ndarray, kind: str) -> SliceStack:
    dz, dy, dx = spacing
    nz, ny, nx = vol.shape
    top = origin + np.array([0.0, 0.0, (nz - 1) * dz])
    if kind == "axial":
        pix = vol
        pos = origin[None] + np.outer(np.arange(nz) * dz, [0.0, 0.0, 1.0])
        row, col, ps, ss = np.array([1.0, 0, 0]), np.array([0.0, 1, 0]), (dy, dx), dz
    elif kind == "coronal":
        pix = np.ascontiguousarray(vol[::-1].transpose(1, 0, 2))
        pos = top[None] + np.outer(np.arange(ny) * dy, [0.0, 1.0, 0.0])
        row, col, ps, ss = np.array([1.0, 0, 0]), np.array([0.0, 0, -1]), (dz, dx), dy
    elif kind == "sagittal":
        # Normal = row × col = −x (patient right): slices run from left to right along it.
        pix = np.ascontiguousarray(vol[::-1, :, ::-1].transpose(2, 0, 1))
        pos = top[None] + np.outer(np.arange(nx)[::-1] * dx, [1.0, 0.0, 0.0])
        row, col, ps, ss = np.array([0.0, 1, 0]), np.array([0.0, 0, -1]), (dz, dy), dx
    else:
        raise ValueError(f"unknown orientation {kind!r}; expected one of {ORIENTATIONS}")
    return SliceStack(pix, pos, row, col, (float(ps[0]), float(ps[1])), float(ss), kind)


def _oblique(
    vol: np.ndarray, spacing: tuple[float, float, float], origin: np.ndarray, rng: np.random.Generator
) -> SliceStack:
    """Resample a double-oblique stack (tilted 15–35° from axial) through the volume centre."""
    ang = rng.uniform(np.deg2rad(15), np.deg2rad(35))
    az = rng.uniform(0.0, 2.0 * np.pi)
    axis = np.array([np.cos(az), np.sin(az), 0.0])
    # Rodrigues rotation of the axial frame about an in-plane axis.
    kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(ang) * kx + (1 - np.cos(ang)) * kx @ kx
    row, col = rot @ np.array([1.0, 0, 0]), rot @ np.array([0.0, 1, 0])
    normal = np.cross(row, col)
    sp = float(min(spacing))
    m = int(round(min(vol.shape) * 0.85))
    centre = origin + (np.array(vol.shape[::-1]) - 1) / 2.0 * np.array(spacing[::-1])
    a = (np.arange(m) - (m - 1) / 2.0) * sp
    pts = (
        centre[None, None, None, :]
        + a[:, None, None, None] * normal
        + a[None, :, None, None] * col
        + a[None, None, :, None] * row
    )
    idx = (pts - origin) / np.array(spacing[::-1])  # (s, r, c, 3) as (i, j, k)
    coords = np.stack([idx[..., 2], idx[..., 1], idx[..., 0]])
    pix = ndimage.map_coordinates(vol, coords, order=1, mode="constant", cval=0.0).astype(vol.dtype)
    pos = centre + a[0] * row + a[0] * col + a[:, None] * normal
    return SliceStack(pix, pos, row, col, (sp, sp), sp, "oblique")


def reformat(
    vol: np.ndarray,
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float] | np.ndarray,
    orientation: str,
    rng: np.random.Generator | None = None,
) -> SliceStack:
    """Slice a (z, y, x) LPS volume (see :class:`~.volume.MrVolume`) into a stack.

    ``axial``/``coronal``/``sagittal`` reuse the voxels; ``oblique`` resamples (trilinear) a
    cubic stack tilted by a random 15–35° (needs ``rng``).
    """
    org = np.asarray(origin, dtype=np.float64)
    if orientation == "oblique":
        return _oblique(vol, spacing, org, rng if rng is not None else np.random.default_rng(0))
    return _direct(vol, spacing, org, orientation)
