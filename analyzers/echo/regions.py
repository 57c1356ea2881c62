"""Region division of the myocardium (Van De Vyver et al., Appendix A) on the 256² model raster.

Per frame: base (annulus) points A/B where the myocardium meets the LA (and AO in ALAX) next to
the LV, the apex C = LV point farthest from the base midpoint, the endocardial border (LV/MYO)
from A over C to B split into three equal lengths per side. Each myocardial pixel joins the
segment of its nearest endocardial border point, which is the raster form of the paper's polygons
(border arc + the lines to the nearest epicardial points). Annulus regions are discs (ovals on the
raster) of 2 mm radius around A and B, or 10 px when the spacing is unknown. Landmarks are
smoothed over time; a frame whose division fails takes its neighbours' landmarks (or regions)
and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "Landmarks", "LoopRegions", "divide_loop", "frame_landmarks", "region_polygons", "regions_from_landmarks",
]

RASTER = 256
_DISK3 = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Landmarks:
    """Base points A (image left), B (image right) and apex C, as (row, col) on the raster."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    def stack(self) -> np.ndarray:
        return np.stack([self.a, self.b, self.c])


@dataclass(frozen=True)
class LoopRegions:
    """Regions of a loop: masks (F, 8, 256, 256) bool, in-sector share (F, 8), failed frames."""

    masks: np.ndarray
    inside_share: np.ndarray
    landmarks: np.ndarray  # (F, 3, 2) smoothed A, B, C
    failed: tuple[int, ...]  # 0-based frames whose own division failed


def _grow(mask: np.ndarray, n: int = 2) -> np.ndarray:
    return ndimage.binary_dilation(mask, _DISK3, iterations=n)


def frame_landmarks(lab: np.ndarray) -> Landmarks | None:
    """A, B, C of one label map (0 bg, 1 LV, 2 MYO, 3 LA, 4 AO) or None when they cannot be found."""
    lv, myo = lab == 1, lab == 2
    if lv.sum() < 30 or myo.sum() < 30:
        return None
    atrium = (lab == 3) | (lab == 4)
    near_lv = myo & _grow(lv)
    junction = near_lv & _grow(atrium) if atrium.any() else np.zeros_like(lv)
    rr, cc = np.nonzero(lv)
    cx = cc.mean()
    points = []
    for side in (np.s_[:, : int(np.floor(cx)) + 1], np.s_[:, int(np.floor(cx)) + 1 :]):
        sub = np.zeros_like(lv)
        sub[side] = True
        cand = junction & sub
        if not cand.any():
            cand = near_lv & sub  # no atrium contact: the lowest endocardial point of that wall
            if not cand.any():
                return None
            r, c = np.nonzero(cand)
            low = r >= r.max() - 2
            points.append(np.array([r[low].mean(), c[low].mean()]))
            continue
        r, c = np.nonzero(cand)
        points.append(np.array([r.mean(), c.mean()]))
    a, b = points
    mid = (a + b) / 2
    far = np.argmax((rr - mid[0]) ** 2 + (cc - mid[1]) ** 2)
    return Landmarks(a, b, np.array([rr[far], cc[far]], dtype=float))


def _smooth(track: np.ndarray, ok: np.ndarray, window: int = 5) -> np.ndarray:
    """Fill failed frames by interpolation, then a centred moving median (F, 3, 2)."""
    f = track.shape[0]
    idx = np.arange(f)
    out = track.copy()
    if ok.any() and not ok.all():
        for k in range(track.shape[1]):
            for d in range(2):
                out[~ok, k, d] = np.interp(idx[~ok], idx[ok], track[ok, k, d])
    if f >= 3:
        half = min(window // 2, (f - 1) // 2)
        padded = np.concatenate([out[:1].repeat(half, 0), out, out[-1:].repeat(half, 0)])
        win = np.stack([padded[i : i + f] for i in range(2 * half + 1)])
        out = np.median(win, axis=0)
    return out


def _endo_arc(lv: np.ndarray, lm: Landmarks) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Ordered endocardial border A→C→B (points, arc length, left length) or None.

    The LV border pixels are ordered by angle around the LV centroid (the lumen is star-shaped
    from its centroid), which is a vectorised stand-in for contour tracing.
    """
    border = lv & ~ndimage.binary_erosion(lv, _DISK3)
    pts = np.column_stack(np.nonzero(border)).astype(float)
    n = len(pts)
    if n < 12:
        return None
    centre = np.column_stack(np.nonzero(lv)).mean(axis=0)
    order = np.argsort(np.arctan2(pts[:, 0] - centre[0], pts[:, 1] - centre[1]))
    pts = pts[order]
    ia, ib, ic = (int(np.argmin(((pts - p) ** 2).sum(axis=1))) for p in (lm.a, lm.b, lm.c))

    def arc(i: int, j: int, avoid: int) -> np.ndarray:
        fwd = (np.arange(i, i + ((j - i) % n) + 1)) % n
        if avoid in fwd[1:-1]:
            fwd = (i - np.arange(0, ((i - j) % n) + 1)) % n
        return fwd

    left, right = arc(ia, ic, ib), arc(ic, ib, ia)
    path = pts[np.concatenate([left, right[1:]])]
    seg = np.sqrt((np.diff(path, axis=0) ** 2).sum(axis=1))
    s = np.concatenate([[0.0], np.cumsum(seg)])
    left_len = float(s[len(left) - 1])
    if left_len <= 0 or s[-1] - left_len <= 0:
        return None
    return path, s, left_len


def _disc(center: np.ndarray, radius: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    ry, rx = radius
    r = np.arange(shape[0])[:, None]
    c = np.arange(shape[1])[None, :]
    return ((r - center[0]) / ry) ** 2 + ((c - center[1]) / rx) ** 2 <= 1.0


def regions_from_landmarks(lab: np.ndarray, lm: Landmarks, radius: tuple[float, float]) -> np.ndarray | None:
    """(8, H, W) bool region masks in ECHO_REGION_IDS order for an (H, W) label map, or None."""
    lv, myo = lab == 1, lab == 2
    if lv.sum() < 30 or myo.sum() < 30:
        return None
    arc = _endo_arc(lv, lm)
    if arc is None:
        return None
    path, s, left_len = arc
    total = s[-1]
    right_len = total - left_len
    cuts = np.array([left_len / 3, 2 * left_len / 3, left_len, left_len + right_len / 3,
                     left_len + 2 * right_len / 3])
    seg_of_point = np.searchsorted(cuts, s, side="right")  # 0..5
    mr, mc = np.nonzero(myo)
    _, nearest = cKDTree(path).query(np.column_stack([mr, mc]))
    seg = seg_of_point[nearest]
    masks = np.zeros((8, *lab.shape), dtype=bool)
    masks[seg, mr, mc] = True
    masks[6] = _disc(lm.a, radius, lab.shape)
    masks[7] = _disc(lm.b, radius, lab.shape)
    return masks


def _window(lab: np.ndarray, pad: int) -> tuple[int, int, int, int] | None:
    """Bounding box of the labelled heart, padded (the division runs on this crop only)."""
    rows, cols = np.flatnonzero(lab.any(axis=1)), np.flatnonzero(lab.any(axis=0))
    if rows.size == 0:
        return None
    h, w = lab.shape
    return (max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h), max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w))


def divide_loop(labels: np.ndarray, sector: np.ndarray, radius: tuple[float, float]) -> LoopRegions:
    """Regions for every frame of (F, 256, 256) labels, clipped to the 256² ``sector`` mask."""
    f = labels.shape[0]
    raw = np.zeros((f, 3, 2))
    ok = np.zeros(f, dtype=bool)
    pad = int(np.ceil(max(radius))) + 3
    windows = [_window(labels[i], pad) for i in range(f)]
    for i in range(f):
        win = windows[i]
        if win is None:
            continue
        lm = frame_landmarks(labels[i, win[0] : win[1], win[2] : win[3]])
        if lm is not None:
            raw[i], ok[i] = lm.stack() + np.array([win[0], win[2]]), True
    masks = np.zeros((f, 8, RASTER, RASTER), dtype=bool)
    share = np.zeros((f, 8))
    if not ok.any():
        return LoopRegions(masks, share, raw, tuple(range(f)))
    smooth = _smooth(raw, ok)
    done = np.zeros(f, dtype=bool)
    for i in range(f):
        win = windows[i]
        if win is None:
            continue
        off = np.array([win[0], win[2]])
        lm = Landmarks(*(smooth[i] - off))
        m = regions_from_landmarks(labels[i, win[0] : win[1], win[2] : win[3]], lm, radius)
        if m is not None:
            masks[i, :, win[0] : win[1], win[2] : win[3]], done[i] = m, True
    if done.any() and not done.all():
        good = np.flatnonzero(done)
        for i in np.flatnonzero(~done):
            j = good[np.argmin(np.abs(good - i))]
            masks[i], windows[i] = masks[j], windows[j]
    for i in range(f):
        win = windows[i]
        if win is None:
            continue
        sub = masks[i, :, win[0] : win[1], win[2] : win[3]]
        area = sub.sum(axis=(1, 2))
        sub &= sector[None, win[0] : win[1], win[2] : win[3]]
        np.divide(sub.sum(axis=(1, 2)), area, out=share[i], where=area > 0)
    failed = tuple(int(i) for i in np.flatnonzero(~(ok & done)))
    return LoopRegions(masks, share, smooth, failed)


def region_polygons(masks: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Outline of each region of one frame (8, 256, 256) as an (N, 2) (column, row) polygon in
    source pixels of ``shape`` (H, W); the largest outline per region, regions without pixels left
    out. Region ids in ECHO_REGION_IDS order."""
    from skimage.measure import find_contours

    from analyzers.base import ECHO_REGION_IDS

    h, w = shape
    out: dict[str, np.ndarray] = {}
    for rid, mask in zip(ECHO_REGION_IDS, masks, strict=True):
        if not mask.any():
            continue
        contours = find_contours(np.pad(mask.astype(np.float32), 1), 0.5)
        if not contours:
            continue
        rc = max(contours, key=len) - 1  # (row, col) on the raster, pad removed
        poly = np.column_stack([(rc[:, 1] + 0.5) * w / RASTER - 0.5, (rc[:, 0] + 0.5) * h / RASTER - 0.5])
        out[rid] = np.round(poly[:-1], 1)  # find_contours closes the ring; the SR closes it itself
    return out
