"""Echo model packs: arqee's interface can be registered, bad packs fail clearly, tiny training."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from echo_helpers import fixed_packs

from analyzers.echo.inference import pack_input, run_quality, run_segmentation
from models.runtime import SHIPPED_PACKS_DIR, ModelSet, load_pack


def test_arqee_interface_pack_registers_under_data_dir(tmp_path: Path) -> None:
    site = fixed_packs(tmp_path / "var" / "packs", slope=0.5, intercept=1.0)
    ms = ModelSet.load([SHIPPED_PACKS_DIR, site], names=["echo-seg", "echo-e2e"])
    assert not ms.errors
    e2e = ms.get("echo-e2e")
    assert e2e.path == site / "echo-e2e"  # the site's pack wins over a shipped one
    frames = np.stack([np.full((256, 256), v, np.float32) for v in (0.0, 127.5, 255.0)])
    x = pack_input(frames, e2e)
    assert x.shape == (3, 1, 256, 256) and x.max() == 255.0  # raw 0..255, whole frame
    scores = run_quality(frames, e2e, batch=2)
    raw = 1 + 4 * np.array([0.0, 0.5, 1.0])
    assert scores.shape == (3, 8)
    assert np.allclose(scores[:, 0], np.clip(raw * 0.5 + 1.0, 1, 5), atol=1e-4)  # calibration applied
    labels = run_segmentation(frames, ms.get("echo-seg"), batch=2)
    assert labels.shape == (3, 256, 256) and set(np.unique(labels)) == {0, 1, 2, 3}


def test_corrupt_pack_is_reported(tmp_path: Path) -> None:
    site = fixed_packs(tmp_path / "packs")
    (site / "echo-e2e" / "model.onnx").write_bytes(b"not a model")
    ms = ModelSet.load([site], names=["echo-seg", "echo-e2e"])
    assert "echo-e2e" in ms.errors and "sha256" in ms.errors["echo-e2e"]
    assert "echo-seg" in ms.packs


def test_shipped_packs_verify_and_state_their_provenance() -> None:
    for name, task in (("echo-seg", "echo-segmentation"), ("echo-e2e", "echo-regional-quality")):
        pack = load_pack(SHIPPED_PACKS_DIR / name)
        m = pack.manifest
        assert m.task == task and m.demonstration_only
        assert (SHIPPED_PACKS_DIR / name / "model.onnx").stat().st_size < 10 * 2**20
        for key in ("generator_version", "seeds", "samples", "epochs", "hardware", "wall_time_s"):
            assert key in m.training, key
        assert "synthetic" in m.description.lower()
        assert m.metrics.get("held_out"), "held-out metrics must be recorded"
    e2e = json.loads((SHIPPED_PACKS_DIR / "echo-e2e" / "manifest.json").read_text())
    assert e2e["calibration"]["slope"] > 0


def test_tiny_training_exports_loadable_packs(tmp_path: Path) -> None:
    from models.train.echo import train_packs

    t0 = time.process_time()
    packs = train_packs(tmp_path, preset="tiny", seed=3)
    assert time.process_time() - t0 < 40  # CPU seconds (wall time depends on the shared machine)
    assert [p.name for p in packs] == ["echo-seg", "echo-e2e"]
    seg, e2e = (load_pack(p) for p in packs)
    frames = np.random.default_rng(0).uniform(0, 255, (2, 256, 256)).astype(np.float32)
    assert run_segmentation(frames, seg, 2).shape == (2, 256, 256)
    assert run_quality(frames, e2e, 2).shape == (2, 8)
    assert e2e.manifest.training["preset"] == "tiny"


@pytest.mark.parametrize("raster", [128, 64])
def test_pack_input_pools_to_declared_raster(raster: int, tmp_path: Path) -> None:
    from echo_helpers import constant_seg_onnx, seg_manifest

    from models.train.packaging import write_pack

    pack = load_pack(write_pack(tmp_path / "p", constant_seg_onnx(tmp_path / "m.onnx", raster),
                                seg_manifest(raster)))
    frames = np.arange(256 * 256, dtype=np.float32).reshape(1, 256, 256) % 256
    x = pack_input(frames, pack)
    assert x.shape == (1, 1, raster, raster)
    assert x.mean() == pytest.approx(frames.mean(), rel=1e-5)


def test_quality_outputs_follow_the_declared_region_order(tmp_path: Path) -> None:
    from echo_helpers import arqee_like_onnx, arqee_manifest

    from analyzers.base import ECHO_REGION_IDS
    from models.train.packaging import write_pack

    manifest = arqee_manifest()
    manifest["output"]["region_order"] = list(reversed(ECHO_REGION_IDS))
    pack = load_pack(write_pack(tmp_path / "p", arqee_like_onnx(tmp_path / "m.onnx"), manifest))
    frames = np.zeros((1, 256, 256), np.float32)
    assert run_quality(frames, pack, 1).shape == (1, 8)


def test_training_resize_matches_the_analyzer() -> None:
    from analyzers.echo.sector import resize_area
    from models.train.echo_data import area_resize

    x = np.random.default_rng(2).uniform(0, 255, (2, 120, 170)).astype(np.float32)
    assert np.allclose(area_resize(x, 64, 64), resize_area(x, 64, 64), atol=1e-3)
