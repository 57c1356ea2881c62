"""Aggregation, ED/ES and the decision thresholds (ARCHITECTURE.md §3)."""

from __future__ import annotations

import numpy as np

from analyzers.base import ECHO_REGION_IDS
from analyzers.echo import ed_es_frames, segment_names, summarise
from config.settings import EchoSection

NAMES = [segment_names("A4C")[i] for i in ECHO_REGION_IDS]


def test_ed_es_from_area_curve() -> None:
    t = np.arange(41)
    area = 1000 + 300 * np.cos(2 * np.pi * t / 20)  # maxima at 0, 20, 40; minima at 10, 30
    ed, es = ed_es_frames(area)
    assert set(ed) == {0, 20, 40} and set(es) == {10, 30}
    assert ed_es_frames(np.array([5.0, 5.0])) == ((0,), (0,))


def _summ(scores: np.ndarray, share: float = 1.0, cfg: EchoSection | None = None):
    f = scores.shape[0]
    area = 1000 + 300 * np.cos(2 * np.pi * np.arange(f) / 20)
    return summarise(scores, np.full((f, 8), share), area, cfg or EchoSection(), NAMES)


def test_good_loop_is_approved() -> None:
    s = _summ(np.full((40, 8), 4.0))
    assert s.approved.all() and s.ef_suitable and not s.rescan
    assert s.global_score == 4.0 and (s.fraction_ok == 1.0).all()


def test_strain_fraction_threshold() -> None:
    scores = np.full((40, 8), 4.0)
    scores[:4, 0] = 2.5  # 90 % of frames ok → approved
    scores[:5, 1] = 2.5  # 87.5 % → not approved
    s = _summ(scores)
    assert s.approved[0] and not s.approved[1]
    assert s.fraction_ok[1] == 0.875
    assert any("not approved for strain" in r and NAMES[1] in r for r in s.reasons)


def test_ef_needs_every_segment_at_ed_and_es() -> None:
    scores = np.full((40, 8), 4.0)
    scores[10, 2] = 2.9  # an ES frame
    s = _summ(scores)
    assert not s.ef_suitable
    scores = np.full((40, 8), 4.0)
    scores[5, 2] = 1.0  # not ED/ES: EF still fine
    assert _summ(scores).ef_suitable


def test_rescan_rules() -> None:
    low = _summ(np.full((40, 8), 2.4))
    assert low.rescan and any("global score 2.40" in r for r in low.reasons)
    scores = np.full((40, 8), 4.0)
    scores[:, [0, 5]] = 1.5  # two failed segments, global 3.17 ≥ 2.5
    s = _summ(scores)
    assert s.rescan and s.global_score > 2.5
    assert any("2 segments" in r for r in s.reasons)
    scores[:, 5] = 4.0
    assert not _summ(scores).rescan


def test_out_of_sector_segments_leave_the_global_score() -> None:
    scores = np.full((20, 8), 4.0)
    scores[:, 2] = 1.0
    share = np.ones((20, 8))
    share[:, 2] = 0.2
    s = summarise(scores, share, np.ones(20), EchoSection(), NAMES)
    assert not s.in_sector[2] and s.global_score == 4.0
    assert not s.approved[2] and not s.ef_suitable
    assert any("outside the sector" in r for r in s.reasons)
