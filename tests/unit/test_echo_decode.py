"""Echo decode: every photometric interpretation and transfer syntax to grey; colour masks."""

from __future__ import annotations

import numpy as np
import pytest
from echo_helpers import fan_loop, make_us
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from analyzers.echo import DecodeError, decode_frames, us_regions


@pytest.fixture(scope="module")
def loop() -> np.ndarray:
    return fan_loop(frames=3, h=64, w=96, text=False)


@pytest.mark.parametrize(
    ("photometric", "syntax", "tol"),
    [
        ("MONOCHROME2", ExplicitVRLittleEndian, 0.0),
        ("MONOCHROME2", RLELossless, 0.0),
        ("MONOCHROME2", JPEGBaseline8Bit, 12.0),
        ("MONOCHROME2", JPEG2000Lossless, 0.0),
        ("MONOCHROME2", JPEGLSLossless, 0.0),
        ("RGB", JPEGLSLossless, 0.6),
        ("RGB", ExplicitVRLittleEndian, 0.6),
        ("RGB", RLELossless, 0.6),
        ("YBR_FULL", ExplicitVRLittleEndian, 1.5),
        ("YBR_FULL_422", JPEGBaseline8Bit, 14.0),
        ("PALETTE COLOR", ExplicitVRLittleEndian, 0.6),
        ("PALETTE COLOR", RLELossless, 0.6),
    ],
)
def test_decode_to_grey(loop: np.ndarray, photometric: str, syntax: str, tol: float) -> None:
    ds = make_us(loop, photometric="RGB" if photometric == "YBR_FULL_422" else photometric, syntax=syntax)
    frames = decode_frames(ds)
    assert frames.grey.shape == loop.shape
    assert frames.grey.dtype == np.float32
    err = np.abs(frames.grey - loop.astype(np.float32))
    assert float(np.median(err)) <= tol + 1e-6
    assert float(err.mean()) <= tol + 2.0
    if frames.colour is not None:  # grey content in colour containers has no saturated pixels
        assert frames.colour.mean() < 0.01


def test_colour_doppler_pixels_are_flagged(loop: np.ndarray) -> None:
    rgb = np.repeat(loop[..., None], 3, axis=-1).copy()
    rgb[:, 20:30, 40:50] = (220, 30, 30)  # red flow
    frames = decode_frames(make_us(rgb, photometric="RGB"))
    assert frames.colour is not None
    assert frames.colour[:, 20:30, 40:50].all()
    assert frames.colour.sum() == 3 * 100


def test_single_frame_and_missing_pixels() -> None:
    one = fan_loop(frames=1, h=32, w=48, text=False)
    ds = make_us(one)
    del ds.NumberOfFrames
    assert decode_frames(ds).grey.shape == (1, 32, 48)
    del ds.PixelData
    with pytest.raises(DecodeError, match="no pixel data"):
        decode_frames(ds)


def test_us_regions_spacing() -> None:
    ds = make_us(fan_loop(frames=1, h=32, w=48, text=False), region=(2, 3, 40, 30), spacing_cm=(0.05, 0.04))
    (reg,) = us_regions(ds)
    assert (reg.x0, reg.y0, reg.x1, reg.y1) == (2, 3, 40, 30)
    assert reg.delta_y_mm == pytest.approx(0.5) and reg.delta_x_mm == pytest.approx(0.4)
