"""Contracts: settings schema, QualityResult v1 + JSON Schema, model-pack verification, registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.base import (
    ECHO_REGION_IDS,
    ECHO_SCALE,
    MR_REGION_IDS,
    MR_SCALE,
    Decisions,
    Frames,
    GlobalGrade,
    ModelRef,
    QualityResult,
    RegionResult,
    ResultError,
    load_registry,
)
from config.settings import ConfigError, Settings, load_settings
from models.runtime import ModelSet, PackError, load_pack, verify_pack
from models.train.packaging import write_pack

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs/result.schema.json").read_text())


# -- settings ---------------------------------------------------------------------------------
def test_documented_defaults_equal_schema_defaults():
    assert load_settings(ROOT / "config/node.toml").model_dump() == Settings().model_dump()


def test_node_toml_documents_every_key():
    text = (ROOT / "config/node.toml").read_text()
    documented: dict[str, set[str]] = {}
    section = None
    for line in text.splitlines():
        m = re.match(r"^\s*#?\s*\[(\w+)\]\s*(#.*)?$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s*#?\s*(\w+)\s*=", line)
        if m and section:
            documented.setdefault(section, set()).add(m.group(1))
    for name, field in Settings.model_fields.items():
        if name in ("routes", "destinations"):
            continue
        keys = {f.alias or k for k, f in field.annotation.model_fields.items()}
        assert keys <= documented.get(name, set()), f"[{name}] undocumented: {keys - documented[name]}"


def test_env_overrides_scalar_keys(monkeypatch):
    monkeypatch.setenv("CARDIAC_QA__NODE__PORT", "104")
    monkeypatch.setenv("CARDIAC_QA__ECHO__MIN_FRAMES", "12")
    s = load_settings()
    assert (s.node.port, s.echo.min_frames) == (104, 12)


def test_all_errors_reported_at_once_with_key_and_allowed_values(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\nport = 0\n[workers]\nproviders = "tpu"\n[echo]\nstrain_min_fraction = 2\n'
                   '[bogus]\nx = 1\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(bad)
    msg = str(exc.value)
    for key in ("node.port", "workers.providers", "echo.strain_min_fraction", "bogus"):
        assert key in msg
    assert "'auto', 'cpu' or 'cuda'" in msg


def test_routes_and_destinations_from_toml(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[destinations]]\nname="pacs"\nae_title="PACS"\nhost="127.0.0.1"\nport=4242\n'
                   '[[routes]]\nmodality="US"\nseries_description="doppler"\nanalyzer="none"\n')
    s = load_settings(cfg)
    assert s.destinations[0].port == 4242 and s.routes[0].analyzer == "none"


@pytest.mark.parametrize(
    "toml",
    [
        '[dashboard]\nenabled=true\nbind_address="0.0.0.0"\n',
        '[node]\ntls_cert="a.pem"\n',
        '[[routes]]\nseries_description="(unclosed"\nanalyzer="none"\n',
        '[analyzers]\nplugins=["not a path"]\n',
    ],
)
def test_invalid_combinations_rejected(tmp_path, toml):
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError):
        load_settings(cfg)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


# -- results ----------------------------------------------------------------------------------
def _echo_result(scores: list[float], frames: int = 3, assessable: bool = True) -> QualityResult:
    regions = tuple(
        RegionResult(
            id=rid, name=rid.replace("_", " "), score=s, label=ECHO_SCALE.label_for(s), min=s,
            fraction_ok=1.0, frame_scores=tuple([s] * frames), approved_for_strain=s >= 3,
            metrics={"gcnr": 0.5, "cnr": None},
        )
        for rid, s in zip(ECHO_REGION_IDS, scores, strict=False)
    )
    g = float(np.mean(scores)) if scores else 3.0
    return QualityResult(
        analysis_uid="2.25.1", analyzer="echo-regional", analyzer_version="1.0.0",
        models=(ModelRef("echo-e2e", "0.1", "a" * 64),),
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", sop_instance_uids=("1.2.3.4.5",),
        modality="US", view="A4C", assessable=True, scale=ECHO_SCALE,
        global_grade=GlobalGrade(g, ECHO_SCALE.label_for(g)), regions=regions,
        frames=Frames(frames, (1,), (2,)), decisions=Decisions(g < 2.5, (), True),
        timings_ms={"total": 1.0},
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1, 5, allow_nan=False), min_size=1, max_size=8), st.integers(2, 80))
def test_echo_result_round_trips_and_matches_schema(scores, frames):
    r = _echo_result(scores, frames)
    d = json.loads(r.to_json())
    jsonschema.validate(d, SCHEMA)
    assert QualityResult.from_json(r.to_json()) == r


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 4, allow_nan=False))
def test_mr_result_round_trips_and_matches_schema(grade):
    regions = tuple(RegionResult(id=i, name=i, score=grade, label=MR_SCALE.label_for(grade)) for i in MR_REGION_IDS)
    r = QualityResult(
        analysis_uid="2.25.2", analyzer="mr-wholeheart", analyzer_version="1.0.0",
        study_instance_uid="1.2", series_instance_uid="1.2.3", sop_instance_uids=("1.2.3.4", "1.2.3.5"),
        modality="MR", assessable=True, scale=MR_SCALE, global_grade=GlobalGrade(grade, MR_SCALE.label_for(grade)),
        regions=regions, decisions=Decisions(grade < 2.0, ("grade below 2.0",) if grade < 2 else ()),
    )
    d = json.loads(r.to_json())
    jsonschema.validate(d, SCHEMA)
    assert "ef_suitable" not in d["decisions"] and "frame_scores" not in d["regions"][0]
    assert QualityResult.from_json(r.to_json()) == r


def test_not_assessable_form():
    r = QualityResult(
        analysis_uid="2.25.3", analyzer="echo-regional", analyzer_version="1", study_instance_uid="1.2",
        series_instance_uid="1.3", sop_instance_uids=("1.4",), modality="US", assessable=False,
        reason="colour Doppler content inside the sector", scale=ECHO_SCALE,
        decisions=Decisions(True, ("not assessable: colour Doppler content inside the sector",)),
    )
    d = json.loads(r.to_json())
    jsonschema.validate(d, SCHEMA)
    assert d["global"] is None and d["regions"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"assessable": False},  # no reason
        {"global_grade": GlobalGrade(7.0, "x")},  # off scale
        {"modality": "CT"},
        {"view": "PLAX"},
        {"sop_instance_uids": ()},
        {"frames": "bad-frames"},
    ],
)
def test_invariants_checked_on_construction(change):
    base = _echo_result([3.0] * 8).__dict__.copy()
    if change.get("frames") == "bad-frames":
        change = {"frames": Frames(2, (1,), (2,))}  # frame_scores have 3 entries
    base.update(change)
    with pytest.raises(ResultError):
        QualityResult(**base)


def test_frames_are_one_based():
    with pytest.raises(ResultError):
        Frames(10, (0,), ())


def test_label_is_nearest_integer_clamped():
    assert ECHO_SCALE.label_for(0.2) == "not visible"
    assert ECHO_SCALE.label_for(2.5) == "ok"
    assert ECHO_SCALE.label_for(9) == "excellent"
    assert MR_SCALE.label_for(1.4) == "marked blurring"


# -- packs ------------------------------------------------------------------------------------
def _tiny_onnx(path: Path, outputs: int = 8) -> None:
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [1, outputs], np.full(outputs, 0.01, np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["m", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 256, 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", outputs])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def _manifest(outputs: int = 8) -> dict:
    return {
        "name": "tiny", "version": "0.0.1", "task": "echo-regional-quality",
        "input": {"shape": ["N", 1, 256, 256], "value_range": [0, 255], "normalisation": "raw 0-255"},
        "output": {"shape": ["N", outputs], "meaning": "region scores", "region_order": list(ECHO_REGION_IDS)},
        "calibration": {"slope": 2.0, "intercept": 1.0},
        "scale": {"min": 1, "max": 5},
    }


def test_pack_written_verified_and_run(tmp_path):
    _tiny_onnx(tmp_path / "m.onnx")
    pack = write_pack(tmp_path / "packs" / "tiny", tmp_path / "m.onnx", _manifest())
    loaded = load_pack(pack)
    y = loaded.calibrate(loaded.run(np.full((5, 1, 256, 256), 100, np.float32), batch=2))
    assert y.shape == (5, 8) and np.allclose(y, 100 * 0.01 * 2 + 1, atol=1e-4)


def test_tampered_pack_is_disabled_with_clear_error(tmp_path):
    _tiny_onnx(tmp_path / "m.onnx")
    pack = write_pack(tmp_path / "packs" / "tiny", tmp_path / "m.onnx", _manifest())
    with open(pack / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(PackError, match="sha256"):
        verify_pack(pack)
    ms = ModelSet.load([tmp_path / "packs"], names=["tiny", "absent"])
    assert "tiny" not in ms.packs and "sha256" in ms.errors["tiny"]
    assert ms.missing(["absent"]) == {"absent": "pack absent not found"}


def test_shape_mismatch_detected(tmp_path):
    _tiny_onnx(tmp_path / "m.onnx", outputs=4)
    man = _manifest()
    man["output"]["shape"] = ["N", 4]
    pack = write_pack(tmp_path / "p" / "tiny", tmp_path / "m.onnx", man)
    bad = json.loads((pack / "manifest.json").read_text())
    bad["output"]["shape"] = ["N", 8]
    (pack / "manifest.json").write_text(json.dumps(bad))
    with pytest.raises(PackError, match="output shape"):
        load_pack(pack)


def test_malformed_manifest(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "manifest.json").write_text('{"name": "x"}')
    with pytest.raises(PackError, match="invalid manifest"):
        verify_pack(tmp_path / "x")


# -- registry ---------------------------------------------------------------------------------
def test_registry_reports_bad_plugins_without_failing_others():
    reg, errors = load_registry(["json:JSONDecoder", "nope.module:Thing"], builtin=False)
    assert reg == {}
    assert "does not implement" in errors["json:JSONDecoder"]
    assert "cannot load" in errors["nope.module:Thing"]
