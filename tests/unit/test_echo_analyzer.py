"""The echo analyzer end to end with fixed (deterministic) packs, and its not-assessable cases."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pytest
from echo_helpers import fan_loop, fixed_packs, legacy_palette_file, make_us

from analyzers.base import ECHO_REGION_IDS, AnalysisUnit, AnalyzerError, load_registry
from analyzers.echo import EchoRegionalAnalyzer
from config.settings import Settings
from models.runtime import ModelSet

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "result.schema.json").read_text())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ModelSet:
    packs = fixed_packs(tmp_path_factory.mktemp("packs"))
    return ModelSet.load([packs], names=["echo-seg", "echo-e2e"])


def _unit(ds: pydicom.Dataset) -> AnalysisUnit:
    return AnalysisUnit("instance", "US", ds.StudyInstanceUID, ds.SeriesInstanceUID, (ds,), "2.25.42")


def _run(ds: pydicom.Dataset, models: ModelSet, **echo: object):
    settings = Settings(echo=echo) if echo else Settings()
    r = EchoRegionalAnalyzer().analyze(_unit(ds), models, settings)
    jsonschema.validate(json.loads(r.to_json()), SCHEMA)
    return r


def test_registry_loads_the_echo_analyzer() -> None:
    registry, errors = load_registry()
    assert "echo-regional" in registry, errors
    assert registry["echo-regional"].required_models == ("echo-seg", "echo-e2e")


def test_assessable_loop(models: ModelSet) -> None:
    loop = fan_loop(frames=12, h=240, w=320)
    r = _run(make_us(loop, view_code="399214001"), models)
    assert r.assessable and r.view == "A4C" and r.frames is not None and r.frames.count == 12
    assert [g.id for g in r.regions] == list(ECHO_REGION_IDS)
    assert r.regions[0].name == "basal inferoseptal" and r.regions[6].name == "inferoseptal mitral annulus"
    grey = loop.reshape(12, -1).mean(axis=1)  # the fixed quality pack: 1 + 4 * mean/255
    expected = np.clip(1 + 4 * grey / 255, 1, 5)
    assert np.allclose(r.regions[0].frame_scores, expected, atol=0.02)
    assert r.global_grade is not None and r.global_grade.score == pytest.approx(expected.mean(), abs=0.02)
    assert r.decisions.rescan_recommended  # a dark loop scores < 2.5
    assert all(m is not None for m in r.regions[0].metrics.values())
    assert r.regions[6].approved_for_strain is None and r.regions[0].approved_for_strain is False
    assert set(r.timings_ms) >= {"decode", "models", "regions", "total"}


def test_apex_outside_the_us_region(models: ModelSet) -> None:
    loop = fan_loop(frames=10, h=240, w=320)
    r = _run(make_us(loop, region=(0, 70, 319, 239)), models)
    assert r.assessable
    by_id = {g.id: g for g in r.regions}
    assert not by_id["apical_left"].in_sector and not by_id["apical_right"].in_sector
    assert by_id["basal_left"].in_sector
    assert any("outside the sector" in x for x in r.decisions.reasons)


def test_colour_doppler_is_not_assessable(models: ModelSet) -> None:
    rgb = np.repeat(fan_loop(frames=10, h=240, w=320)[..., None], 3, axis=-1).copy()
    rgb[:, 90:130, 140:180] = (200, 20, 30)
    r = _run(make_us(rgb, photometric="RGB"), models)
    assert not r.assessable and "colour Doppler" in (r.reason or "")
    assert r.regions == () and r.global_grade is None


def test_too_few_frames(models: ModelSet) -> None:
    r = _run(make_us(fan_loop(frames=2, h=120, w=160)), models)
    assert not r.assessable and "fewer than echo.min_frames = 8" in (r.reason or "")
    r = _run(make_us(fan_loop(frames=2, h=120, w=160)), models, min_frames=2)
    assert r.assessable


def test_no_sector(models: ModelSet) -> None:
    frames = np.zeros((10, 120, 160), np.uint8)
    frames[:, 5:12, 5:80] = 230
    r = _run(make_us(frames), models)
    assert not r.assessable and "no ultrasound sector" in (r.reason or "")


def test_missing_pack_is_an_analyzer_error(tmp_path: Path) -> None:
    with pytest.raises(AnalyzerError, match="echo-e2e"):
        EchoRegionalAnalyzer().analyze(_unit(make_us(fan_loop(frames=8))), ModelSet.load([tmp_path], names=["echo-e2e"]), Settings())


def test_legacy_palette_rle_doppler_file(models: ModelSet) -> None:
    path = legacy_palette_file(ROOT / ".cache" / "test-data")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "PALETTE COLOR"
    r = _run(ds, models)
    assert not r.assessable
    assert "colour Doppler inside the sector" in (r.reason or "")


def test_geometry_for_the_reports(models: ModelSet) -> None:
    loop = fan_loop(frames=10, h=240, w=320)
    ds = make_us(loop)
    result, geometry = EchoRegionalAnalyzer().analyze_with_geometry(_unit(ds), models, Settings())
    assert result.assessable and set(geometry) == set(ECHO_REGION_IDS)
    for poly in geometry.values():
        assert poly.ndim == 2 and poly.shape[1] == 2 and len(poly) >= 3
        assert (poly[:, 0] >= -1).all() and (poly[:, 0] <= 320).all() and (poly[:, 1] <= 240).all()
    left, right = geometry["basal_left"][:, 0].mean(), geometry["basal_right"][:, 0].mean()
    assert left < 160 < right  # columns first, in source pixels
    _, none = EchoRegionalAnalyzer().analyze_with_geometry(_unit(make_us(fan_loop(frames=2))), models, Settings())
    assert none == {}
