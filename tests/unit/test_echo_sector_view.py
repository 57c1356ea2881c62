"""Echo sector (US regions or detected) and view (codes, keywords)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from echo_helpers import fan_loop, make_us

from analyzers.echo import decode_frames, find_sector, segment_names, view_of


def test_detected_sector_excludes_text_and_ecg() -> None:
    loop = fan_loop(frames=10, h=240, w=320)
    fr = decode_frames(make_us(loop))
    sector = find_sector(fr.grey, fr.colour, fr.regions)
    assert sector is not None and sector.source == "detected" and sector.spacing_mm is None
    truth = loop.max(axis=0) > 0
    truth[4:12, 6:60] = False
    truth[228:236] = False
    fan = truth & (np.arange(240)[:, None] < 225)
    inter = (sector.mask & fan).sum() / fan.sum()
    assert inter > 0.9
    assert not sector.mask[4:12, 6:60].any()  # burnt-in text
    assert not sector.mask[230, :].any()  # ECG line


def test_sector_from_us_regions_has_spacing() -> None:
    loop = fan_loop(frames=10, h=240, w=320)
    fr = decode_frames(make_us(loop, region=(40, 0, 280, 225), spacing_cm=(0.06, 0.05)))
    sector = find_sector(fr.grey, fr.colour, fr.regions)
    assert sector is not None and sector.source == "us-regions"
    assert sector.spacing_mm == pytest.approx((0.6, 0.5))
    assert not sector.mask[:, :40].any() and not sector.mask[:, 281:].any()


@pytest.mark.parametrize("kind", ["blank", "text-only", "noise-square"])
def test_no_sector(kind: str) -> None:
    grey = np.zeros((8, 120, 160), dtype=np.float32)
    if kind == "text-only":
        grey[:, 5:12, 5:80] = 230
    if kind == "noise-square":  # a full-frame rectangle is not fan-shaped
        grey[:] = np.random.default_rng(0).rayleigh(50, size=grey.shape)
    assert find_sector(grey, None, ()) is None


@pytest.mark.parametrize(
    ("code", "desc", "view"),
    [
        ("399214001", "", "A4C"),
        ("399232001", "", "A2C"),
        ("399339008", "", "ALAX"),
        (None, "Apical 4 chamber", "A4C"),
        (None, "A2C zoom", "A2C"),
        (None, "APLAX", "ALAX"),
        (None, "3CH", "ALAX"),
        (None, "parasternal short axis", None),
    ],
)
def test_view(code: str | None, desc: str, view: str | None) -> None:
    ds = pydicom.Dataset()
    ds.SeriesDescription = desc
    if code:
        item = pydicom.Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code, "SCT", "x"
        ds.ViewCodeSequence = [item]
    assert view_of(ds) == view


def test_segment_names_follow_view() -> None:
    assert segment_names("A4C")["basal_left"] == "basal inferoseptal"
    assert segment_names("A2C")["mid_right"] == "mid anterior"
    assert segment_names("ALAX")["annulus_left"] == "inferolateral mitral annulus"
    assert segment_names(None)["apical_right"] == "apical right wall"
