"""Region division (Appendix A) on hand-made label maps."""

from __future__ import annotations

import time

import numpy as np

from analyzers.echo import divide_loop, frame_landmarks


def label_map(cy: float = 150.0, scale: float = 1.0, atrium: bool = True) -> np.ndarray:
    """A horseshoe myocardium around an LV ellipse, apex up, LA below the base (row 200)."""
    r = np.arange(256)[:, None]
    c = np.arange(256)[None, :]
    lab = np.zeros((256, 256), np.uint8)
    outer = ((r - cy) / (85.0 * scale)) ** 2 + ((c - 128) / (48.0 * scale)) ** 2 <= 1
    inner = ((r - cy) / (72.0 * scale)) ** 2 + ((c - 128) / (35.0 * scale)) ** 2 <= 1
    lab[outer & (r < 200)] = 2
    lab[inner & (r < 200)] = 1
    if atrium:
        la = ((r - 225) / 25.0) ** 2 + ((c - 128) / 45.0) ** 2 <= 1
        lab[la & (r >= 200)] = 3
    return lab


def test_landmarks_base_and_apex() -> None:
    lm = frame_landmarks(label_map())
    assert lm is not None
    assert 195 <= lm.a[0] <= 201 and 195 <= lm.b[0] <= 201
    assert lm.a[1] < 110 < 146 < lm.b[1]  # A on the image left, B on the right
    assert lm.c[0] < 85 and abs(lm.c[1] - 128) < 3  # apex at the top, on the axis


def test_eight_regions_ordered_and_disjoint_segments() -> None:
    lab = label_map()
    lr = divide_loop(lab[None], np.ones((256, 256), bool), (10.0, 10.0))
    m = lr.masks[0]
    areas = m.sum(axis=(1, 2))
    assert (areas > 0).all() and lr.failed == ()
    assert not (m[:6].sum(axis=0) > 1).any()  # a myocardial pixel is in one segment
    assert (m[:6].sum(axis=0) == (lab == 2)).all()  # and every one is in a segment
    rows = [np.nonzero(m[j])[0].mean() for j in range(6)]
    cols = [np.nonzero(m[j])[1].mean() for j in range(6)]
    assert rows[0] > rows[1] > rows[2] and rows[5] > rows[4] > rows[3]  # basal → apical upwards
    assert max(cols[:3]) < 128 < min(cols[3:6])  # left wall left, right wall right
    assert np.ptp(areas[:6]) < 0.35 * areas[:6].mean()  # equal lengths → similar areas
    assert areas[6] == areas[7] and abs(areas[6] - np.pi * 100) < 20  # 10 px discs


def test_annulus_radius_follows_spacing() -> None:
    lr = divide_loop(label_map()[None], np.ones((256, 256), bool), (4.0, 8.0))
    r, c = np.nonzero(lr.masks[0, 6])
    assert np.ptp(r) <= 8 and 14 <= np.ptp(c) <= 16


def test_regions_outside_sector() -> None:
    sector = np.ones((256, 256), bool)
    sector[:100] = False  # apex cut off
    lr = divide_loop(label_map()[None], sector, (10.0, 10.0))
    assert not lr.masks[0][:, :100].any()
    assert lr.inside_share[0, 2] < 0.5 and lr.inside_share[0, 3] < 0.5
    assert lr.inside_share[0, 0] == 1.0


def test_failed_frame_uses_neighbours_and_is_reported() -> None:
    labs = np.stack([label_map(), label_map(scale=0.97), np.zeros((256, 256), np.uint8), label_map()])
    lr = divide_loop(labs, np.ones((256, 256), bool), (10.0, 10.0))
    assert lr.failed == (2,)
    assert lr.masks[2].any()
    assert (lr.masks[2] == lr.masks[1]).all() or (lr.masks[2] == lr.masks[3]).all()


def test_without_atrium_and_all_failed() -> None:
    lr = divide_loop(label_map(atrium=False)[None], np.ones((256, 256), bool), (10.0, 10.0))
    assert lr.failed == () and lr.masks[0, :6].any(axis=(1, 2)).all()
    none = divide_loop(np.zeros((3, 256, 256), np.uint8), np.ones((256, 256), bool), (10.0, 10.0))
    assert none.failed == (0, 1, 2)


def test_landmarks_are_smoothed_over_time() -> None:
    labs = np.stack([label_map(cy=150.0 + (6.0 if i == 4 else 0.0)) for i in range(9)])
    lr = divide_loop(labs, np.ones((256, 256), bool), (10.0, 10.0))
    assert abs(lr.landmarks[4, 2, 0] - lr.landmarks[3, 2, 0]) < 1.0  # the outlier is median-filtered


def test_region_division_speed() -> None:
    labs = np.stack([label_map(scale=1.0 + 0.02 * np.sin(i)) for i in range(30)])
    divide_loop(labs[:2], np.ones((256, 256), bool), (10.0, 10.0))
    # CPU time, not wall time: the test machines are shared; benchmarks/echo.py reports both.
    t0 = time.process_time()
    divide_loop(labs, np.ones((256, 256), bool), (10.0, 10.0))
    per_frame_ms = (time.process_time() - t0) * 1000 / len(labs)
    assert per_frame_ms < 10.0
