"""Whole-heart bright-blood (bSSFP-like, T2-prepared, fat-suppressed) thorax phantom.

Tissues are painted as labels on a :class:`~models.synthetic.mr.geometry.Grid` (LPS mm, see that
module for the array axes), then mapped to intensities (blood ≈ 1). The heart lives in its own
frame: ``e1`` base → apex (anterior, inferior, left), ``e2`` toward the right ventricle and
``e3`` (roughly posterior); coordinates in that frame are called ``(u, v, w)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import Grid, paint_ellipsoid, paint_tube, rotation, tube_occupancy

__all__ = ["INTENSITY", "LABELS", "Anatomy", "render_anatomy"]

#: Tissue label ids of :attr:`MrVolume.labels <models.synthetic.mr.volume.MrVolume.labels>`.
LABELS: dict[int, str] = {
    0: "air", 1: "muscle", 2: "subcutaneous_fat", 3: "lung", 4: "mediastinal_fat",
    5: "myocardium", 6: "lv_blood", 7: "rv_blood", 8: "la_blood", 9: "ra_blood", 10: "aorta",
    11: "pulmonary_artery", 12: "coronary", 13: "liver", 14: "bone", 15: "vein", 16: "csf",
}
#: Mean intensity per label (blood ≈ 1, fat suppressed except far from the isocentre).
INTENSITY = np.array(
    [0.0, 0.22, 0.42, 0.035, 0.10, 0.30, 1.0, 0.95, 0.93, 0.92, 1.0, 0.95, 0.95, 0.36, 0.15, 0.85, 0.75],
    dtype=np.float32,
)
_BLOOD = np.array([6, 7, 8, 9, 10, 11, 15], dtype=np.uint8)
_SOFT = np.array([1, 3, 4, 13], dtype=np.uint8)


@dataclass(frozen=True)
class Anatomy:
    """A rendered phantom: labels, clean intensity image and the coronary centrelines (LPS mm)."""

    labels: np.ndarray
    image: np.ndarray
    coronaries: dict[str, np.ndarray]


class _Heart:
    """The heart frame: centre ``c`` (LPS mm), unit rows ``e`` = (e1, e2, e3) and scale ``k``."""

    def __init__(self, rng: np.random.Generator) -> None:
        jitter = rotation(*rng.uniform(-0.18, 0.18, 3))
        a = jitter @ np.array([0.68, -0.58, -0.42])
        a /= np.linalg.norm(a)
        r = jitter @ np.array([-0.45, -0.85, 0.10])
        e2 = r - (r @ a) * a
        e2 /= np.linalg.norm(e2)
        e3 = np.cross(a, e2)
        if e3[1] < 0:
            e3 = -e3
        self.e = np.stack([a, e2, e3])
        self.c = np.array([8.0, -4.0, -4.0]) + rng.uniform(-18.0, 18.0, 3)
        self.k = float(rng.uniform(0.88, 1.12))

    def at(self, u: float, v: float, w: float) -> np.ndarray:
        """LPS point of heart-frame coordinates (mm, before scaling by ``k``)."""
        return self.c + self.k * (u * self.e[0] + v * self.e[1] + w * self.e[2])

    # Ventricular epicardium (heart frame, unscaled mm): (centre, semi-axes, base cut u).
    LV_EPI = ((8.0, -3.0, 0.0), (50.0, 29.0, 29.0))
    RV_EPI = ((0.0, 22.0, 0.0), (46.0, 21.0, 35.0))
    BASE = -24.0

    def inside_ventricles(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Whether unscaled heart-frame points lie inside the ventricular epicardium."""
        inside = np.zeros(np.broadcast_shapes(u.shape, v.shape, w.shape), dtype=bool)
        for (cu, cv, cw), (au, av, aw) in (self.LV_EPI, self.RV_EPI):
            inside |= ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 + ((w - cw) / aw) ** 2 <= 1.0
        return inside & (u >= self.BASE)

    def surface_path(self, u: np.ndarray, theta: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """LPS points ``offset`` mm outside the ventricular surface at heart-frame (u, angle)."""
        r = np.arange(0.0, 80.0, 0.25)
        uu, tt = u[:, None], theta[:, None]
        v0, w0 = self.LV_EPI[0][1], 0.0
        inside = self.inside_ventricles(uu, v0 + r[None] * np.cos(tt), w0 + r[None] * np.sin(tt))
        outline = np.where(inside.any(axis=1), r[np.argmax(np.cumsum(inside, axis=1), axis=1)], 0.0)
        rr = outline + offset / self.k
        pts = [self.at(a, v0 + b * np.cos(t), w0 + b * np.sin(t)) for a, b, t in zip(u, rr, theta, strict=True)]
        return np.array(pts)

    def groove_angle(self, lo: float, hi: float) -> float:
        """Angle (rad) in [lo, hi] where the mid-ventricular outline is deepest (a groove)."""
        th = np.linspace(lo, hi, 121)
        pts = self.surface_path(np.full(th.shape, 2.0), th, np.zeros(th.shape))
        return float(th[np.argmin(np.linalg.norm(pts - self.c, axis=1))])


def _smooth_path(rng: np.random.Generator, pts: np.ndarray, amp: float) -> np.ndarray:
    """Add a smooth random wiggle of about ``amp`` mm to a centreline."""
    m = len(pts)
    noise = ndimage.gaussian_filter1d(rng.normal(0.0, 1.0, (m, 3)), sigma=max(m / 8.0, 1.0), axis=0)
    noise /= max(np.abs(noise).max(), 1e-6)
    return pts + amp * noise


def _coronaries(rng: np.random.Generator, h: _Heart) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """RCA (+PDA), left main + LAD and LCX as (centreline LPS mm, radius mm)."""
    deg = np.pi / 180.0
    u_av = h.BASE + 2.0
    ant = h.groove_angle(-150 * deg, -40 * deg)
    post = h.groove_angle(60 * deg, 150 * deg)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    r_rca, r_lad, r_lcx = rng.uniform(1.3, 1.9), rng.uniform(1.2, 1.7), rng.uniform(1.1, 1.5)
    th = np.linspace(ant + 35 * deg, post, 60)
    rca = h.surface_path(np.full(th.shape, u_av), th, np.full(th.shape, r_rca + 1.2))
    uu = np.linspace(u_av, 30.0, 30)
    pda = h.surface_path(uu, np.full(uu.shape, post), np.full(uu.shape, 2.0))
    path = np.concatenate([rca, pda[1:]])
    out["RCA"] = (_smooth_path(rng, path, 1.2), np.linspace(r_rca, 0.8, len(path)))
    uu = np.linspace(u_av, 50.0, 60)
    lad = h.surface_path(uu, np.full(uu.shape, ant), np.full(uu.shape, r_lad + 1.0))
    root = h.at(h.BASE - 4.0, 2.0, -4.0)
    lm = np.linspace(root, lad[0], 6)
    path = np.concatenate([lm[:-1], lad])
    out["LAD"] = (_smooth_path(rng, path, 1.0), np.linspace(r_lad + 0.3, 0.7, len(path)))
    th = np.linspace(ant - 10 * deg, post - 360 * deg + 25 * deg, 50)
    lcx = h.surface_path(np.full(th.shape, u_av), th, np.full(th.shape, r_lcx + 1.2))
    path = np.concatenate([lad[:1], lcx])
    out["LCX"] = (_smooth_path(rng, path, 1.0), np.linspace(r_lcx, 0.8, len(path)))
    return out


def _paint_body(labels: np.ndarray, grid: Grid, rng: np.random.Generator) -> float:
    """Chest wall, fat, lungs, liver and spine. Returns the spine's y position (mm)."""
    eye = np.eye(3)
    s = rng.uniform(0.92, 1.08)
    by = 30.0 + rng.uniform(-6, 6)
    body = np.array([0.0, by, 0.0])
    ax, ay = 165.0 * s, 102.0 * s
    fat, musc = rng.uniform(6, 16), rng.uniform(9, 14)
    paint_ellipsoid(labels, grid, 2, body, (ax, ay, 1e4), eye)
    paint_ellipsoid(labels, grid, 1, body, (ax - fat, ay - fat, 1e4), eye)
    paint_ellipsoid(labels, grid, 4, body, (ax - fat - musc, ay - fat - musc, 1e4), eye)
    for side in (-1.0, 1.0):
        c = np.array([side * 72.0 * s, by - 5.0, 25.0])
        paint_ellipsoid(labels, grid, 3, c, (58.0 * s, 78.0 * s, 120.0), eye, where=np.array([4]))
    liver_top = rng.uniform(-75.0, -55.0)
    paint_ellipsoid(labels, grid, 13, np.array([-35.0, by - 15.0, liver_top - 70.0]), (120.0, 95.0, 70.0),
                    rotation(0.0, 0.25, 0.0), where=np.array([3, 4]))
    spine_y = by + ay - fat - musc - 22.0
    line = np.array([[0.0, spine_y, -400.0], [0.0, spine_y, 400.0]])
    paint_tube(labels, grid, 14, line, np.array([17.0, 17.0]))
    paint_tube(labels, grid, 16, line + [0.0, 27.0, 0.0], np.array([7.0, 7.0]))
    return float(spine_y)


def _paint_heart(labels: np.ndarray, grid: Grid, h: _Heart, spine_y: float) -> None:
    """Pericardial fat, atria, ventricles, great vessels (in painting order)."""
    e, k = h.e, h.k
    sc = lambda t: tuple(k * np.asarray(t))  # noqa: E731 - local shorthand
    # Mediastinal/epicardial fat envelope pushes the lungs away from the heart.
    paint_ellipsoid(labels, grid, 4, h.at(0, 8, 2), sc((62, 50, 44)), e, where=np.array([3]))
    # Atria: thin myocardial wall, then blood.
    for lab, c, ax in ((8, (-44, -10, 16), (20, 25, 20)), (9, (-40, 27, 2), (23, 20, 24))):
        paint_ellipsoid(labels, grid, 5, h.at(*c), sc(np.add(ax, 2.5)), e, where=_SOFT)
        paint_ellipsoid(labels, grid, lab, h.at(*c), sc(ax), e)
    base_cut = (e[0], k * h.BASE)
    for lab, (c, ax), wall in ((7, h.RV_EPI, 4.0), (6, h.LV_EPI, 10.0)):
        cc = h.at(*c) - h.c
        cut = (e[0], base_cut[1] - float(cc @ e[0]))
        paint_ellipsoid(labels, grid, 5, h.at(*c), sc(ax), e, halfspace=cut)
        cut_in = (e[0], cut[1] + 3.0 * k)
        paint_ellipsoid(labels, grid, lab, h.at(*c), sc(np.subtract(ax, wall)), e, halfspace=cut_in,
                        where=np.array([5, 7]) if lab == 6 else np.array([5, 4, 3, 1]))
    for side in (-1.0, 1.0):  # papillary muscles in the LV cavity
        paint_ellipsoid(labels, grid, 5, h.at(16, -13, side * 9), sc((13, 4.5, 4.5)), e, where=np.array([6]))
    # Great vessels (LPS offsets in mm from their roots).
    ar = h.at(h.BASE - 2.0, 2.0, -4.0)
    desc = np.array([24.0, spine_y - 36.0])
    top = ar[2] + 72.0 * k
    aorta = np.array([ar, ar + [-8, -8, 25], ar + [-12, -4, 52], [ar[0] - 4, ar[1] + 18, top],
                      [desc[0] - 4, desc[1] - 10, top - 4], [desc[0], desc[1], top - 30], [desc[0], desc[1], -400]])
    paint_tube(labels, grid, 10, aorta, k * np.array([13.0, 14, 14, 12, 11, 11, 10]))
    pr = h.at(h.BASE - 2.0, 16.0, -24.0)
    b = pr + np.array([10.0, 24.0, 36.0]) * k
    paint_tube(labels, grid, 11, np.array([pr, pr + np.array([8.0, 4.0, 22.0]) * k, b]), k * np.array([13.0, 13, 12]))
    paint_tube(labels, grid, 11, np.array([b, b + [28, 14, 0], b + [48, 28, -8]]), k * np.array([10.0, 9, 7]))
    paint_tube(labels, grid, 11, np.array([b, b + [-30, 14, -6], b + [-70, 18, -12]]), k * np.array([10.0, 9, 7]))
    ra = h.at(-40, 27, 2)
    paint_tube(labels, grid, 15, np.array([ra + [-6, 0, 10], ra + [-8, 6, 60], ra + [-8, 6, 300]]),
               k * np.array([9.0, 9, 9]), where=_SOFT)
    paint_tube(labels, grid, 15, np.array([ra + [0, 6, -10], ra + [4, 12, -60], ra + [4, 12, -400]]),
               k * np.array([11.0, 11, 11]), where=np.array([1, 3, 4, 13]))
    la = h.at(-44, -10, 16)
    for dx, dz in ((-1, 1), (-1, -1), (1, 1), (1, -1)):
        end = la + np.array([dx * 42.0, 10.0, dz * 10.0]) * k
        paint_tube(labels, grid, 15, np.array([la, end, end + [dx * 25.0, 6.0, dz * 8.0]]),
                   k * np.array([6.5, 6, 4]), where=np.array([3, 4, 5]))


def _paint_vessel_tree(
    labels: np.ndarray, grid: Grid, rng: np.random.Generator, root: np.ndarray, heading: np.ndarray,
    r0: float, where: np.ndarray, n_branches: int,
) -> None:
    """Small vessels (pulmonary, hepatic) as random tapering walks from ``root`` into ``where``."""
    for _ in range(n_branches):
        d = heading + rng.normal(0.0, 0.8, 3)
        p, r = root.copy(), r0 * rng.uniform(0.7, 1.0)
        pts, rad = [p], [r]
        for _ in range(int(rng.integers(5, 9))):
            d = d / np.linalg.norm(d) + rng.normal(0.0, 0.25, 3)
            d /= np.linalg.norm(d)
            p = p + d * rng.uniform(10.0, 18.0)
            r = max(r * 0.82, 0.6)
            pts.append(p)
            rad.append(r)
        paint_tube(labels, grid, 15, np.array(pts), np.array(rad), where=where)


def render_anatomy(rng: np.random.Generator, grid: Grid) -> Anatomy:
    """Draw random anatomy and render its labels and clean (noise-free, unblurred) intensities."""
    labels = np.zeros((grid.n,) * 3, dtype=np.uint8)
    spine_y = _paint_body(labels, grid, rng)
    heart = _Heart(rng)
    _paint_heart(labels, grid, heart, spine_y)
    lung, liver = np.array([3]), np.array([13])
    for side in (-1.0, 1.0):
        hilum = heart.at(-44, -10, 16) + np.array([side * 38.0, 8.0, 4.0])
        _paint_vessel_tree(labels, grid, rng, hilum, np.array([side, -0.3, 0.0]), 3.5, lung, 22)
    ivc = heart.at(-40, 27, 2) + np.array([4.0, 12.0, -75.0])
    _paint_vessel_tree(labels, grid, rng, ivc, np.array([-0.6, -0.6, 0.1]), 4.5, liver, 5)
    cor = _coronaries(rng, heart)
    occ = np.zeros(labels.shape, dtype=np.float32)
    for pts, rad in cor.values():
        # Epicardial fat along the grooves, then the lumen (partial-volume occupancy).
        paint_tube(labels, grid, 4, pts, rad + 3.0, where=np.array([1, 3, 4, 5]))
    for pts, rad in cor.values():
        tube_occupancy(occ, grid, pts, rad)
    labels[occ >= 0.5] = 12
    gain = INTENSITY * rng.uniform(0.9, 1.1, INTENSITY.shape).astype(np.float32)
    gain[12] = gain[6] * 0.95
    image = gain[labels]
    np.multiply(image, 1.0 - occ, out=image)
    image += occ * gain[12]
    # Mild smooth tissue texture (a few percent), built coarse and zoomed for speed.
    m = 10
    tex = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (m, m, m)).astype(np.float32), 1.0)
    tex = ndimage.zoom(tex / max(float(np.abs(tex).max()), 1e-6), grid.n / m, order=1)[: grid.n, : grid.n, : grid.n]
    image *= 1.0 + 0.05 * tex
    return Anatomy(labels, image, {name: p for name, (p, _) in cor.items()})
