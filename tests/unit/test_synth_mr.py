"""Synthetic whole-heart MR: grade rule, severity sampling, volumes and reformat geometry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from models.synthetic.mr import (
    LABELS,
    SEVERITY_KEYS,
    grade_from_severity,
    make_volume,
    round_grade,
    sample_severity,
    training_volume,
)
from models.synthetic.mr.reslice import ORIENTATIONS, reformat


def test_grade_range_and_monotone_in_every_severity() -> None:
    rng = np.random.default_rng(5)
    assert grade_from_severity({}) == 4.0
    assert grade_from_severity(dict.fromkeys(SEVERITY_KEYS, 1.0)) == 0.0
    for _ in range(200):
        sev = dict(zip(SEVERITY_KEYS, rng.uniform(0, 1, len(SEVERITY_KEYS)), strict=True))
        g = grade_from_severity(sev)
        assert 0.0 <= g <= 4.0
        for key in SEVERITY_KEYS:
            worse = dict(sev, **{key: min(sev[key] + 0.1, 1.0)})
            assert grade_from_severity(worse) <= g + 1e-12
            if 0.0 < g:
                assert grade_from_severity(worse) < g or sev[key] == 1.0


def test_vessel_blur_weighs_most() -> None:
    drop = {k: 4.0 - grade_from_severity({k: 1.0}) for k in SEVERITY_KEYS}
    assert drop["motion"] == max(drop.values())
    assert drop["motion"] > 1.4 * max(v for k, v in drop.items() if k != "motion")


def test_round_grade_half_steps() -> None:
    assert [round_grade(g) for g in (0.0, 0.24, 0.26, 1.74, 3.9, 4.0)] == [0.0, 0.0, 0.5, 1.5, 4.0, 4.0]


def test_sampled_severities_cover_grades_uniformly() -> None:
    rng = np.random.default_rng(11)
    grades = [grade_from_severity(sample_severity(rng)) for _ in range(400)]
    hist, _ = np.histogram(grades, bins=4, range=(0.0, 4.0))
    assert hist.min() >= 60, hist
    for target in (0.0, 1.3, 2.5, 4.0):
        sev = sample_severity(rng, target)
        assert all(0.0 <= v <= 1.0 for v in sev.values())
        assert abs(grade_from_severity(sev) - target) < 0.25


def test_unknown_severity_key_rejected() -> None:
    with pytest.raises(ValueError, match="unknown MR severity"):
        make_volume(np.random.default_rng(0), size=32, severity={"blurr": 1.0})


def test_make_volume_truth_and_determinism() -> None:
    a = make_volume(np.random.default_rng(3), size=48, spacing_mm=2.5)
    b = make_volume(np.random.default_rng(3), size=48, spacing_mm=2.5)
    assert a.volume.shape == a.labels.shape == (48, 48, 48)
    assert a.volume.dtype == np.float32 and a.labels.dtype == np.uint8
    assert np.array_equal(a.volume, b.volume) and np.array_equal(a.labels, b.labels)
    assert a.grade == b.grade and a.severity == b.severity
    assert a.grade_rounded == round_grade(a.grade) and 0.0 <= a.grade <= 4.0
    assert set(np.unique(a.labels)) <= set(LABELS)
    assert {5, 6, 7, 10, 11} <= set(np.unique(a.labels).tolist())
    t = training_volume(np.random.default_rng(4), size=40)
    assert t.volume.shape == (40, 40, 40) and t.spacing_mm == (1.0, 1.0, 1.0)


def _coronary_contrast(motion: float) -> float:
    mv = make_volume(np.random.default_rng(8), size=112, severity={"motion": motion})
    lumen = mv.labels == 12
    ring = ndimage.binary_dilation(lumen, iterations=3) & ~ndimage.binary_dilation(lumen, iterations=1)
    return float(mv.volume[lumen].mean() - mv.volume[ring].mean())


def test_motion_blurs_the_coronaries() -> None:
    sharp, mild, blurred = (_coronary_contrast(m) for m in (0.0, 0.4, 1.0))
    assert sharp > mild > blurred
    assert blurred < 0.5 * sharp


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_reformat_positions_match_the_volume(orientation: str) -> None:
    """Each pixel's LPS position (IPP + r·Δr·col + c·Δc·row) maps back to the same voxel value."""
    rng = np.random.default_rng(1)
    vol = rng.uniform(0, 1, (20, 22, 24)).astype(np.float32)
    spacing, origin = (2.0, 1.5, 1.25), np.array([-10.0, 5.0, 30.0])
    st = reformat(vol, spacing, origin, orientation, np.random.default_rng(2))
    # Positions sorted along the normal are equally spaced by the slice spacing.
    d = np.diff(st.positions @ st.normal)
    assert np.allclose(d, st.slice_spacing)
    assert np.allclose(np.diff(st.positions, axis=0), st.slice_spacing * st.normal)
    ns, nr, nc = st.pixels.shape
    for s, r, c in itertools.product((0, ns // 2, ns - 1), (0, nr // 3, nr - 1), (0, nc // 2, nc - 1)):
        p = st.positions[s] + r * st.pixel_spacing[0] * st.col_dir + c * st.pixel_spacing[1] * st.row_dir
        ijk = (p - origin) / np.array(spacing[::-1])
        expect = ndimage.map_coordinates(vol, ijk[::-1].reshape(3, 1), order=1, mode="constant")[0]
        assert st.pixels[s, r, c] == pytest.approx(expect, abs=1e-5)
