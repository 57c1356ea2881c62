"""Daily CLI: ``results``, ``show``, ``models`` (and ``demo``'s argument checks) over a sample node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_node.cli.main import main
from dicom_node.web.sample import SENTINEL_PATIENT_ID, populate_sample
from storage.db import Database


@pytest.fixture(scope="module")
def node_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[int], Path]:
    data_dir = tmp_path_factory.mktemp("daily")
    db = Database(f"sqlite:///{data_dir / 'cardiac_qa.sqlite3'}")
    db.migrate()
    ids = populate_sample(db, data_dir)
    db.dispose()
    cfg = data_dir / "node.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data_dir}"\n')
    return str(cfg), ids, data_dir


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["results"], ["show"], ["models"], ["models", "verify"], ["models", "list"], ["demo"]]
)
def test_every_command_has_help(capsys, argv) -> None:
    code, out, _ = _run(capsys, *argv, "--help")
    assert code == 0 and "Usage:" in out


def test_results_table_and_flagged(capsys, node_config) -> None:
    cfg, ids, _ = node_config
    code, out, _ = _run(capsys, "results", "--config", cfg)
    assert code == 0
    assert "RESCAN" in out and "not assessable" in out and "failed" in out
    assert len(out.strip().splitlines()) == 2 + len(ids)
    code, out, _ = _run(capsys, "results", "--config", cfg, "--flagged")
    assert code == 0 and len(out.strip().splitlines()) == 2 + 4
    assert "4.1 good" not in out


def test_results_json_and_since(capsys, node_config) -> None:
    cfg, ids, _ = node_config
    code, out, _ = _run(capsys, "results", "--config", cfg, "--json")
    rows = json.loads(out)
    assert code == 0 and {r["id"] for r in rows} == set(ids)
    assert all(SENTINEL_PATIENT_ID not in json.dumps(r) for r in rows)
    flagged = [r for r in rows if r["flagged"]]
    assert len(flagged) == 4 and all(
        set(r) >= {"global_score", "rescan_recommended", "delivered"} for r in rows
    )
    code, out, _ = _run(capsys, "results", "--config", cfg, "--json", "--since", "12h")
    assert code == 0 and len(json.loads(out)) == 2  # the two sample cases of today
    code, out, _ = _run(capsys, "results", "--config", cfg, "--since", "2999-01-01")
    assert code == 0 and "no analyses" in out


def test_show_by_id_and_uid(capsys, node_config) -> None:
    cfg, ids, _ = node_config
    code, out, _ = _run(capsys, "show", "--config", cfg, str(ids[1]))
    assert code == 0
    assert "rescan YES" in out and "basal_left" in out and "association rejected" not in out
    assert "sc-cine" in out and "failed" in out
    code, out, _ = _run(capsys, "show", "--config", cfg, str(ids[1]), "--json")
    doc = json.loads(out)
    assert doc["analysis"]["id"] == ids[1] and doc["result"]["schema"] == "cardiac-qa/result/1"
    assert len(doc["result"]["regions"]) == 8 and doc["outputs"][0]["kind"] == "sr"
    uid = doc["outputs"][1]["sop_instance_uid"]  # an output UID finds its analysis too
    code, out, _ = _run(capsys, "show", "--config", cfg, uid, "--json")
    assert code == 0 and json.loads(out)["analysis"]["id"] == ids[1]
    code, out, _ = _run(capsys, "show", "--config", cfg, str(ids[5]))
    assert code == 0 and "not assessable" in out and "min_frames" in out


def test_bad_input_is_one_line(capsys, node_config, tmp_path) -> None:
    cfg, _, _ = node_config
    _one_line_error(*_run(capsys, "show", "--config", cfg, "999999")[::2])
    _one_line_error(*_run(capsys, "show", "--config", cfg, "not a uid!")[::2])
    _one_line_error(*_run(capsys, "results", "--config", cfg, "--since", "yesterday-ish")[::2])
    _one_line_error(*_run(capsys, "results", "--config", str(tmp_path / "missing.toml"))[::2])
    empty = tmp_path / "empty.toml"
    empty.write_text(f'[storage]\ndata_dir = "{tmp_path / "nothing"}"\n')
    _one_line_error(*_run(capsys, "results", "--config", str(empty))[::2])
    bad = tmp_path / "bad.toml"
    bad.write_text("[dashboard]\nport = 0\n")
    _one_line_error(*_run(capsys, "models", "--config", str(bad))[::2])
    afile = tmp_path / "a-file"
    afile.write_text("x")
    _one_line_error(*_run(capsys, "demo", "--out", str(afile))[::2])
    _one_line_error(*_run(capsys, "demo", "--out", str(tmp_path / "d"), "--echo", "0", "--mr", "0")[::2])
    code, _, err = _run(capsys, "results", "--config", cfg, "--limit", "0")  # bad usage: exit 2
    assert code == 2 and "Traceback" not in err and "--limit" in err


def _tiny_pack(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    from models.train.packaging import write_pack

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["output"], axes=[2, 3], keepdims=0)],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime of the supported range loads
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent.parent / "tiny.onnx"
    onnx.save(model, tmp)
    manifest = {
        "name": folder.name,
        "version": "0.0.1",
        "task": "mr-patch-grade",
        "input": {"shape": ["N", 1, 8, 8]},
        "output": {"shape": ["N", 1], "meaning": "grade"},
    }
    return write_pack(folder, tmp, manifest)


def test_models_list_and_verify_site_packs(capsys, tmp_path) -> None:
    data_dir = tmp_path / "var"
    pack = _tiny_pack(data_dir / "packs" / "site-tiny")
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data_dir}"\n')
    code, out, _ = _run(capsys, "models", "--config", str(cfg))
    assert code == 0 and "site-tiny" in out and "site" in out
    code, out, _ = _run(capsys, "models", "verify", "--config", str(cfg), "--json")
    entries = json.loads(out)
    assert code == 0 and any(e["name"] == "site-tiny" and e["ok"] and e["active"] for e in entries)
    (pack / "model.onnx").write_bytes((pack / "model.onnx").read_bytes() + b"tampered")
    code, out, err = _run(capsys, "models", "verify", "--config", str(cfg))
    assert "BROKEN" in out
    _one_line_error(code, err)
    assert "sha256" in err
