"""Parametric apical-view heart: LV, myocardium, LA (RV/RA for A4C, aorta for ALAX).

Shapes are implicit functions in "heart coordinates": ``u`` along the LV long axis from the
mitral base (0) towards the apex, ``x`` perpendicular (image right positive). The LV lumen is a
superellipse half ``(|x|/W)^p + (u/L)^q <= 1, u >= 0``; the epicardium the same with ``W + T``
and ``L + 0.8 T``. Contraction shrinks ``W``/``L`` and thickens ``T`` over the cycle; the base
descends towards the (nearly fixed) apex.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "BLOOD_AMP",
    "VIEWS",
    "HeartParams",
    "HeartState",
    "contours",
    "contraction",
    "with_view",
    "evaluate",
    "material_coords",
    "sample_heart",
    "state_at",
]

VIEWS: tuple[str, ...] = ("A4C", "A2C", "ALAX")
BLOOD_AMP = 0.022  # blood scatters ~33 dB below myocardium
BASE_TAPER = 0.2


@dataclass(frozen=True)
class HeartParams:
    """End-diastolic shape of one synthetic heart (mm, radians)."""

    view: str
    base_x: float
    base_z: float
    tilt: float
    w_left: float
    w_right: float
    length: float
    wall: float
    p: float
    q: float
    squeeze: float  # contraction strength (~EF / 60 %)
    la_w: float
    la_len: float
    la_dx: float
    side_w: float  # RV (A4C) half width, or aorta diameter (ALAX); 0 for A2C
    side_len: float
    ao_angle: float
    waves: np.ndarray  # (K, 4): kx, kz, phase, amplitude of the background heterogeneity
    blood: float


@dataclass(frozen=True)
class HeartState:
    """Heart geometry at one instant of the cycle."""

    params: HeartParams
    bx: float
    bz: float
    w_left: float
    w_right: float
    length: float
    wall: float
    leaflet_open: float

    def axes(self) -> tuple[float, float, float, float]:
        """Unit vectors ``a`` (base to apex) and ``n`` (image right), as ax, az, nx, nz."""
        t = self.params.tilt
        return float(np.sin(t)), float(-np.cos(t)), float(np.cos(t)), float(np.sin(t))

    def to_xz(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Heart coordinates (x, u) to physical (X, Z), stacked on the last axis."""
        ax, az, nx, nz = self.axes()
        return np.stack([self.bx + u * ax + x * nx, self.bz + u * az + x * nz], axis=-1)


def sample_heart(rng: np.random.Generator, view: str, depth_mm: float) -> HeartParams:
    """Random end-diastolic heart for ``view`` that fits a sector of ``depth_mm``."""
    scale = depth_mm / 150.0 * rng.uniform(0.85, 1.0)
    length = rng.uniform(62, 84) * scale
    apex_z = rng.uniform(12, 30) * scale
    tilt = rng.uniform(-0.2, 0.2)
    base_z = apex_z + (length + 9) * np.cos(tilt)
    side_w = {"A4C": rng.uniform(13, 19), "ALAX": rng.uniform(20, 27), "A2C": 0.0}[view] * scale
    k = 6
    waves = np.column_stack(
        [
            rng.uniform(-0.25, 0.25, k),
            rng.uniform(-0.25, 0.25, k),
            rng.uniform(0, 2 * np.pi, k),
            rng.uniform(0.08, 0.25, k),
        ]
    ).astype(np.float32)
    return HeartParams(
        view=view,
        base_x=float(
            (rng.uniform(-10, 10) + (9.0 if view == "A4C" else 0.0)) * scale - (length + 9) * np.sin(tilt)
        ),
        base_z=float(base_z),
        tilt=float(tilt),
        w_left=float(rng.uniform(19, 27) * scale),
        w_right=float(rng.uniform(19, 27) * scale),
        length=float(length),
        wall=float(rng.uniform(7.5, 11.5) * scale),
        p=float(rng.uniform(1.8, 2.5)),
        q=float(rng.uniform(1.5, 2.3)),
        squeeze=float(rng.uniform(0.45, 1.1)),
        la_w=float(rng.uniform(17, 24) * scale),
        la_len=float(rng.uniform(30, 44) * scale),
        la_dx=float(rng.uniform(-4, 4) * scale - (9 * scale if view == "ALAX" else 0.0)),
        side_w=float(side_w),
        side_len=float(rng.uniform(0.6, 0.8) * length if view == "A4C" else rng.uniform(35, 50) * scale),
        ao_angle=float(rng.uniform(0.35, 0.7)),
        waves=waves,
        blood=float(BLOOD_AMP * rng.uniform(0.7, 1.4)),
    )


def contraction(phase: float) -> float:
    """Normalised contraction 0 (end-diastole) .. 1 (end-systole at phase 0.35)."""
    ph = phase % 1.0
    if ph < 0.35:
        return float(0.5 * (1 - np.cos(np.pi * ph / 0.35)))
    # early rapid filling, diastasis, small atrial kick
    t = (ph - 0.35) / 0.65
    return float(
        max(0.0, 0.5 * (1 + np.cos(np.pi * min(1.0, t / 0.45)))) + 0.06 * np.exp(-(((t - 0.85) / 0.07) ** 2))
    )


def state_at(params: HeartParams, phase: float) -> HeartState:
    """Geometry at cardiac ``phase`` (0 = end-diastole)."""
    c = contraction(phase) * params.squeeze
    dl = params.length * 0.12 * c
    ax, az = np.sin(params.tilt), -np.cos(params.tilt)
    ph = phase % 1.0
    open_ = 0.0 if 0.02 < ph < 0.42 else (1.0 if ph < 0.75 or ph > 0.85 else 0.45)
    return HeartState(
        params=params,
        bx=float(params.base_x + dl * ax),
        bz=float(params.base_z + dl * az),
        w_left=params.w_left * (1 - 0.22 * c),
        w_right=params.w_right * (1 - 0.22 * c),
        length=params.length - dl,
        wall=params.wall * (1 + 0.45 * c),
        leaflet_open=open_,
    )


def _heart_coords(st: HeartState, x_mm: np.ndarray, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ax, az, nx, nz = st.axes()
    dx, dz = x_mm - st.bx, z_mm - st.bz
    return dx * nx + dz * nz, dx * ax + dz * az


def _taper(u: np.ndarray) -> np.ndarray:
    """Width factor narrowing the LV towards the mitral annulus (same in contours and masks)."""
    return 1.0 - BASE_TAPER * np.exp(-np.clip(u, 0, None) / 9.0)


def _superellipse(
    x: np.ndarray, u: np.ndarray, wl: float, wr: float, length: float, p: float, q: float, taper: bool = False
) -> np.ndarray:
    # Only points in the bounding box can be inside (F <= 1); the rest get +inf (cheap).
    out = np.full(x.shape, np.inf, dtype=np.float32)
    cand = (u >= 0) & (u <= length) & (np.abs(x) <= max(wl, wr))
    xs, us = x[cand], u[cand]
    w = np.where(xs < 0, wl, wr)
    if taper:
        w = w * _taper(us)
    out[cand] = (np.abs(xs) / w) ** p + (us / length) ** q
    return out


def _ellipse(x: np.ndarray, u: np.ndarray, cx: float, cu: float, ax: float, au: float) -> np.ndarray:
    return ((x - cx) / ax) ** 2 + ((u - cu) / au) ** 2


def _segment_dist(
    x: np.ndarray, u: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]
) -> np.ndarray:
    vx, vu = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((x - p0[0]) * vx + (u - p0[1]) * vu) / (vx * vx + vu * vu + 1e-9), 0, 1)
    return np.hypot(x - p0[0] - t * vx, u - p0[1] - t * vu)


def evaluate(
    st: HeartState, x_mm: np.ndarray, z_mm: np.ndarray, echo: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Label map (0 bg, 1 LV, 2 MYO, 3 LA, 4 AO) and, if ``echo``, scattering amplitude.

    ``x_mm``/``z_mm`` are physical coordinates of any shape. Amplitudes are linear, myocardium
    ~1, blood ``params.blood``, pericardium ~3.
    """
    pr = st.params
    x, u = _heart_coords(st, x_mm, z_mm)
    wl, wr, ln, t = st.w_left, st.w_right, st.length, st.wall
    f_epi = _superellipse(x, u, wl + t, wr + t, ln + 0.8 * t, pr.p, pr.q, taper=True)
    lv = _superellipse(x, u, wl, wr, ln, pr.p, pr.q, taper=True) <= 1
    epi = f_epi <= 1
    myo = epi & ~lv
    # LA: an inverted dome whose flat top (width la_w) meets the mitral annulus
    f_la = _superellipse(x - pr.la_dx, -u, pr.la_w, pr.la_w, pr.la_len, 2.2, 2.0)
    la = (f_la <= 1) & (u < 0)
    ao = np.zeros_like(lv)
    side = np.zeros_like(lv)
    side_wall = np.zeros_like(lv)
    if pr.view == "ALAX":
        sx, su = wr * 0.3, 0.0
        dxa, dua = np.sin(pr.ao_angle), -np.cos(pr.ao_angle)
        tt = (x - sx) * dxa + (u - su) * dua
        perp = np.abs((x - sx) * dua - (u - su) * dxa)
        tube = (tt >= -pr.side_w) & (tt <= pr.side_len)
        ao = tube & (perp <= pr.side_w / 2) & (u < 0)
        side_wall = tube & (perp <= pr.side_w / 2 + 2.5) & (u < 1.5) & ~ao
        la &= ~side_wall & ~ao
    elif pr.view == "A4C":
        rv_cx = -(wl + t) - pr.side_w + 3.0
        f_rv = _superellipse(x - rv_cx, u, pr.side_w, pr.side_w, pr.side_len, 2.0, 1.8)
        f_sep = _superellipse(x, u, wl + t + 1.5, wr + t + 1.5, ln + 0.8 * t + 1.5, pr.p, pr.q)
        ra_cx = pr.la_dx - pr.la_w - 3.5 - pr.side_w
        f_ra = _superellipse(x - ra_cx, -u - 1.5, pr.side_w, pr.side_w, pr.la_len * 0.9, 2.2, 2.0)
        side = ((f_rv <= 1) & (f_sep > 1)) | ((f_ra <= 1) & (f_la > 1.3))
        f_rvw = _superellipse(x - rv_cx, u, pr.side_w + 4, pr.side_w + 4, pr.side_len + 4, 2.0, 1.8)
        f_raw = _superellipse(
            x - ra_cx, -u + 1.5, pr.side_w + 3, pr.side_w + 3, pr.la_len * 0.9 + 3, 2.2, 2.0
        )
        side_wall = ((f_rvw <= 1) | (f_raw <= 1)) & ~side
    labels = np.zeros(x.shape, dtype=np.uint8)
    labels[la] = 3
    labels[ao] = 4
    labels[lv] = 1
    labels[myo] = 2
    if not echo:
        return labels, None

    amp = np.full(x.shape, 0.3, dtype=np.float32)
    for kx, kz, ph, a in pr.waves:
        amp *= 1 + a * np.cos(kx * x_mm + kz * z_mm + ph)
    # lung beside the heart scatters little back: darken tissue far lateral of the heart
    reach = np.where(x < 0, wl + t + (2.2 * pr.side_w if pr.view == "A4C" else 0.0), wr + t) + 22.0
    amp *= (0.35 + 0.65 * np.exp(-np.clip(np.abs(x) - reach, 0, None) / 12.0)).astype(np.float32)
    amp = np.where(z_mm < 14, 0.7 + 0.45 * np.cos(z_mm * 1.6) ** 2, amp)  # chest-wall layers
    peri = (
        _superellipse(x, u, wl + t + 3.2, wr + t + 3.2, ln + 0.8 * t + 3.2, pr.p, pr.q, taper=True) <= 1
    ) & ~epi
    amp = np.where(peri & (u > -2), 2.8, amp)
    amp = np.where(side_wall, 0.9, amp)
    la_wall = (
        (_superellipse(x - pr.la_dx, -u, pr.la_w + 3, pr.la_w + 3, pr.la_len + 3, 2.2, 2.0) <= 1)
        & ~la
        & (u < 0)
    )
    amp = np.where(la_wall, 0.75, amp)
    amp = np.where(myo, 1.0 + 0.15 * np.cos(u * 0.9 + x * 0.3), amp)
    amp = np.where(lv | la | ao | side, pr.blood, amp)
    # mitral leaflets: open into the LV in diastole, closed across the annulus in systole
    lf = 0.42 * (wl + wr) * (1 - BASE_TAPER)
    for side_sign, wbase in ((-1.0, wl * (1 - BASE_TAPER)), (1.0, wr * (1 - BASE_TAPER))):
        ang = np.deg2rad(8 + 62 * st.leaflet_open)
        p0 = (side_sign * wbase, 0.0)
        p1 = (p0[0] - side_sign * lf * np.cos(ang), lf * np.sin(ang) - 3.0 * (1 - st.leaflet_open))
        amp = np.where(_segment_dist(x, u, p0, p1) < 0.9, 1.4, amp)
    return labels, amp.astype(np.float32)


def contours(st: HeartState, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Endocardial and epicardial borders from the left base via the apex to the right base.

    Returns two (n, 2) arrays of physical (X, Z) points (mm).
    """
    pr = st.params
    th = np.linspace(np.pi, 0.0, n)
    c, s = np.cos(th), np.clip(np.sin(th), 0, None)
    out = []
    for wl, wr, ln in (
        (st.w_left, st.w_right, st.length),
        (st.w_left + st.wall, st.w_right + st.wall, st.length + 0.8 * st.wall),
    ):
        w = np.where(c < 0, wl, wr)
        u = ln * s ** (2 / pr.q)
        x = w * _taper(u) * np.sign(c) * np.abs(c) ** (2 / pr.p)
        out.append(st.to_xz(x, u))
    return out[0], out[1]


def with_view(params: HeartParams, view: str) -> HeartParams:
    """Same heart shown in another view (used by tests)."""
    return replace(params, view=view)


def material_coords(
    st: HeartState, x_mm: np.ndarray, z_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue-fixed coordinates (mm, end-diastolic frame) near the heart, and that mask.

    Speckle looked up at these coordinates moves with the contracting heart instead of boiling.
    """
    pr = st.params
    x, u = _heart_coords(st, x_mm, z_mm)
    w_now = np.where(x < 0, st.w_left + st.wall, st.w_right + st.wall)
    w_ed = np.where(x < 0, pr.w_left + pr.wall, pr.w_right + pr.wall)
    near = (
        _superellipse(
            x,
            u + 6.0,
            (st.w_left + st.wall) * 1.3,
            (st.w_right + st.wall) * 1.3,
            st.length + st.wall + 12.0,
            pr.p,
            pr.q,
        )
        <= 1
    )
    return x * (w_ed / w_now), u * (pr.length / st.length), near
