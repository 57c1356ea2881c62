"""``cardiac-qa analyze`` on generated echo studies: schema-valid JSON, clear not-assessable cases."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from echo_helpers import fixed_packs

from dicom_node.cli.main import main
from models.synthetic.echo.studies import generate_studies

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "result.schema.json").read_text())


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    generate_studies(out, n=7, seed=31, small=True)  # k=5 colour Doppler, k=6 two frames
    return out, json.loads((out / "echo" / "truth.json").read_text())


def _results(out: Path) -> dict[str, dict]:
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    for d in docs:
        jsonschema.validate(d, SCHEMA)
    return {d["sop_instance_uids"][0]: d for d in docs}


def test_analyze_generated_studies_with_shipped_packs(studies: tuple[Path, dict], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src, truth = studies
    out = tmp_path / "out"
    assert main(["analyze", str(src / "echo"), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 7 and all(" -> " in ln for ln in lines)
    results = _results(out)
    assert len(results) == 7
    for entry in truth["files"]:
        r = results[entry["sop_instance_uid"]]
        assert r["analyzer"] == "echo-regional" and {m["name"] for m in r["models"]} == {"echo-seg", "echo-e2e"}
        if entry["colour_doppler"]:
            assert not r["assessable"] and "colour Doppler" in r["reason"]
        elif entry["frames"] < 8:
            assert not r["assessable"] and "min_frames" in r["reason"]
        else:
            assert r["assessable"], r["reason"]
            assert r["view"] == entry["view"]
            assert len(r["regions"]) == 8 and r["frames"]["count"] == entry["frames"]
            assert 1.0 <= r["global"]["score"] <= 5.0


def test_analyze_uses_site_packs_and_is_deterministic(studies: tuple[Path, dict], tmp_path: Path) -> None:
    src, truth = studies
    fixed_packs(tmp_path / "var" / "packs")
    cfg = tmp_path / "node.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{(tmp_path / "var").as_posix()}"\n')
    one = next(p for p in sorted((src / "echo").rglob("*.dcm")))
    for run in ("a", "b"):
        assert main(["analyze", str(one), "--out", str(tmp_path / run), "--config", str(cfg)]) == 0
    (a,), (b,) = _results(tmp_path / "a").values(), _results(tmp_path / "b").values()
    assert a["analysis_uid"] == b["analysis_uid"]  # same unit, analyzer and packs → same key
    assert {m["version"] for m in a["models"]} == {"test", "arqee-test"}


def test_analyze_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "not.dcm"
    bad.write_bytes(b"hello")
    assert main(["analyze", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
