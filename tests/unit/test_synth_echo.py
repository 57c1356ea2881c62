"""Synthetic echo generator: training API, ground truth, grade rule, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.base.result import ECHO_REGION_IDS
from models.synthetic.echo import (
    GENERATOR_VERSION,
    REGION_IDS,
    SEVERITY_KINDS,
    VIEWS,
    EchoSample,
    grade_from_severity,
    label_from_grade,
    make_loop,
    training_sample,
)


def test_region_order_matches_result_contract() -> None:
    assert REGION_IDS == ECHO_REGION_IDS
    assert GENERATOR_VERSION.startswith("echo-synth/")


@pytest.mark.parametrize("view", VIEWS)
def test_training_sample_contract(view: str) -> None:
    s = training_sample(np.random.default_rng(7), size=256, view=view)
    assert isinstance(s, EchoSample) and s.view == view
    assert s.image.shape == (256, 256) and s.image.dtype == np.float32
    assert 0 <= s.image.min() and s.image.max() <= 255
    assert s.labels.shape == (256, 256) and s.labels.dtype == np.uint8
    assert s.regions.shape == (8, 256, 256) and s.regions.dtype == bool
    assert s.grades.shape == (8,) and s.grades.dtype == np.float32
    assert s.sector.shape == (256, 256) and s.sector.dtype == bool
    assert np.all((s.grades >= 1) & (s.grades <= 5))
    present = set(np.unique(s.labels).tolist())
    assert {1, 2}.issubset(present) and present <= {0, 1, 2, 3, 4}
    assert (4 in present) == (view == "ALAX")


def test_training_sample_random_view_and_bad_view() -> None:
    rng = np.random.default_rng(1)
    assert {training_sample(rng, size=96).view for _ in range(12)} == set(VIEWS)
    with pytest.raises(ValueError):
        training_sample(rng, view="PLAX")


def test_training_sample_is_deterministic() -> None:
    a = training_sample(np.random.default_rng(123), size=128)
    b = training_sample(np.random.default_rng(123), size=128)
    for field in ("image", "labels", "regions", "grades", "sector"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def _check_truth(labels: np.ndarray, regions: np.ndarray, sector: np.ndarray) -> None:
    assert not labels[~sector].any(), "labels outside the sector"
    assert not regions[:, ~sector].any(), "region pixels outside the sector"
    myo = regions[:6]
    assert (myo.sum(axis=0) <= 1).all(), "myocardial regions overlap"
    assert np.all(labels[myo.any(axis=0)] == 2), "myocardial regions leave the myocardium"
    # the six segments cover (almost) the whole visible myocardium
    assert myo.any(axis=0).sum() >= 0.97 * (labels == 2).sum()


def test_ground_truth_masks() -> None:
    rng = np.random.default_rng(5)
    for _ in range(9):
        s = training_sample(rng, size=192)
        _check_truth(s.labels, s.regions, s.sector)
        assert s.regions[6:].any(axis=(1, 2)).any(), "annulus discs missing"


def test_apical_order_and_sides() -> None:
    """basal regions lie below apical ones; left regions lie left of right ones (image axes)."""
    rng = np.random.default_rng(11)
    for _ in range(4):
        s = training_sample(rng, size=256)
        cy = [np.nonzero(m)[0].mean() if m.any() else np.nan for m in s.regions]
        cx = [np.nonzero(m)[1].mean() if m.any() else np.nan for m in s.regions]
        for lo, hi in ((0, 2), (5, 3)):  # basal vs apical, each side
            if not np.isnan(cy[lo] + cy[hi]):
                assert cy[lo] > cy[hi]
        if not np.isnan(cx[0] + cx[5]):
            assert cx[0] < cx[5]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=6, max_size=6), st.integers(0, 5), st.floats(0.001, 1))
def test_grade_rule_is_monotone(sev: list[float], kind: int, bump: float) -> None:
    base = dict(zip(SEVERITY_KINDS, sev, strict=True))
    worse = dict(base)
    worse[SEVERITY_KINDS[kind]] = min(1.0, base[SEVERITY_KINDS[kind]] + bump)
    g0, g1 = float(grade_from_severity(base)), float(grade_from_severity(worse))
    assert 1.0 <= g1 <= g0 <= 5.0


def test_grade_rule_end_points_and_labels() -> None:
    zero = {k: 0.0 for k in SEVERITY_KINDS}
    assert grade_from_severity(zero) == pytest.approx(5.0)
    assert grade_from_severity({**zero, "dropout": 1.0}) == pytest.approx(1.0)
    assert label_from_grade(np.array([1.0, 1.49, 1.5, 2.5, 4.6, 5.0])).tolist() == [1, 1, 2, 3, 5, 5]


def _gcnr(a: np.ndarray, b: np.ndarray) -> float:
    ha, _ = np.histogram(a, bins=64, range=(0, 256))
    hb, _ = np.histogram(b, bins=64, range=(0, 256))
    return 1.0 - float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())


def test_visible_quality_follows_grade() -> None:
    """gCNR of myocardial regions against the LV lumen (arqee's classic metric) tracks the grade."""
    rng = np.random.default_rng(2024)
    grades, gcnrs = [], []
    for _ in range(24):
        s = training_sample(rng, size=160)
        lv = s.image[s.labels == 1]
        for k in range(6):
            m = s.regions[k]
            if m.sum() >= 20 and lv.size >= 50:
                grades.append(s.grades[k])
                gcnrs.append(_gcnr(s.image[m], lv))
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = float(np.corrcoef(rank(np.array(grades)), rank(np.array(gcnrs)))[0, 1])
    assert rho > 0.5, rho


def test_small_loop_truth() -> None:
    lp = make_loop(np.random.default_rng(3), view="A4C", small=True)
    f = lp.frames.shape[0]
    assert 10 <= f <= 16 and lp.frames.shape[1:] == (240, 320) and lp.frames.dtype == np.uint8
    assert len(lp.truth) == f and lp.grades.shape == (f, 8)
    assert lp.ed_frames and all(0 <= i < f for i in lp.ed_frames + lp.es_frames)
    assert 5 < lp.frame_time_ms < 120
    areas = [t.lv_area_mm2 for t in lp.truth]
    assert areas[lp.ed_frames[0]] > areas[lp.es_frames[0]] if lp.es_frames else True
    for t in lp.truth:
        _check_truth(t.labels, t.regions, lp.sector_mask)
    assert make_loop(np.random.default_rng(3), frames=2, small=True).frames.shape[0] == 2


def test_common_helpers_are_deterministic() -> None:
    from models.synthetic.common import child_rng, derive_uid, synthetic_patient

    uid = derive_uid(7, "echo", 1, "series")
    assert uid == derive_uid(7, "echo", 1, "series") != derive_uid(8, "echo", 1, "series")
    assert uid.startswith("2.25.") and len(uid) <= 64 and uid.replace(".", "").isdigit()
    assert child_rng(3, "a", 1).random() == child_rng(3, "a", 1).random() != child_rng(3, "a", 2).random()
    p = synthetic_patient(7, "ECHO", 0)
    assert p.patient_name == "SYNTH^ECHO^0001" and p == synthetic_patient(7, "ECHO", 0)
