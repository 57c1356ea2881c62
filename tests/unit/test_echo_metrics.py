"""Classic metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from analyzers.echo import gcnr, histogram_match, loop_metrics, region_metrics


def test_gcnr_hand_values() -> None:
    a = np.array([10, 10, 20, 20], np.uint8)
    assert gcnr(a, a) == pytest.approx(0.0)
    assert gcnr(a, np.array([30, 40], np.uint8)) == pytest.approx(1.0)
    # p = {10: .5, 20: .5}, q = {20: .25, 30: .75} → overlap .25 → gCNR .75
    assert gcnr(a, np.array([20, 30, 30, 30], np.uint8)) == pytest.approx(0.75)
    assert np.isnan(gcnr(a, np.array([], np.uint8)))


def test_region_metrics_hand_values() -> None:
    img = np.zeros((4, 4), np.uint8)
    img[0] = [100, 100, 120, 120]  # region: mean 110, var 100
    img[1] = [10, 30, 10, 30]  # LV: mean 20, var 100
    region = np.zeros((4, 4), bool)
    region[0] = True
    lv = np.zeros((4, 4), bool)
    lv[1] = True
    m = region_metrics(img, region, lv)
    assert m["intensity"] == pytest.approx(110.0)
    assert m["cr"] == pytest.approx(110.0 / 20.0)
    assert m["cnr"] == pytest.approx(90.0 / np.sqrt(200.0))
    assert m["gcnr"] == pytest.approx(1.0)
    assert np.isnan(region_metrics(img, np.zeros((4, 4), bool), lv)["cr"])


def test_histogram_match_uses_sector_only() -> None:
    rng = np.random.default_rng(0)
    frame = rng.gamma(2.0, 30.0, size=(128, 128)).astype(np.float32)
    sector = np.zeros((128, 128), bool)
    sector[20:120, 10:110] = True
    frame[~sector] = 255.0  # text outside must not influence the mapping
    out = histogram_match(frame, sector)
    vals = out[sector].astype(float)
    assert vals.mean() == pytest.approx(127.0, abs=0.5)
    assert vals.std() == pytest.approx(32.0, abs=0.7)
    assert (out[~sector] == 0).all()
    order = np.argsort(frame[sector])  # monotone mapping
    assert (np.diff(vals[order]) >= 0).all()


def test_loop_metrics_shape_and_stride() -> None:
    frames = np.random.default_rng(1).uniform(0, 255, size=(4, 256, 256)).astype(np.float32)
    labels = np.zeros((4, 256, 256), np.uint8)
    labels[:, 100:150, 100:150] = 1
    masks = np.zeros((4, 8, 256, 256), bool)
    masks[:, :, 50:60, 50:60] = True
    out = loop_metrics(frames, np.ones((256, 256), bool), labels, masks, stride=2)
    assert out.shape == (4, 8, 4)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
