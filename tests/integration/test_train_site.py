"""``cardiac-qa train mr --data DIR``: a pack trained on a site's labelled series, then used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dicom_node.cli.main import main as cli_main
from models.runtime import load_pack
from models.synthetic.mr.studies import generate_studies


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Series written by the MR generator standing in for a site's archive, labels from its truth."""
    folder = tmp_path_factory.mktemp("site")
    truth = generate_studies(folder, n=9, seed=5, small=True)
    (folder / "mr" / "truth.json").unlink()  # a site has DICOM files and labels.csv only
    rows = [f"{t['series_instance_uid']},{t['grade']}" for t in truth if t["grade"] is not None]
    (folder / "labels.csv").write_text("series_instance_uid,grade\n" + "\n".join(rows) + "\n")
    return folder, truth


def test_train_mr_on_site_data_writes_a_usable_pack(site: tuple[Path, list[dict]], tmp_path: Path, capsys) -> None:  # noqa: ANN001
    folder, truth = site
    out = tmp_path / "packs"
    assert cli_main(["train", "mr", "--data", str(folder), "--out", str(out), "--preset", "tiny"]) == 0
    captured = capsys.readouterr()
    manifest = json.loads((out / "mr-iqdcnn" / "manifest.json").read_text())
    labelled = [t for t in truth if t["grade"] is not None]
    skipped = captured.err.count("skipped series")
    assert manifest["training"]["series"] == len(labelled) - skipped >= 5
    assert skipped <= sum(1 for t in labelled if t["awkward"])  # only series the analyzer refuses
    assert manifest["version"] == "1.0.0-tiny+site" and manifest["demonstration_only"] is False
    assert "site" in manifest["description"] and "synthetic phantom" not in manifest["description"]
    heldout = manifest["metrics"]["heldout"]
    assert heldout["series"] == manifest["training"]["heldout_series"] >= 1 and "mae" in heldout
    pack = load_pack(out / "mr-iqdcnn")  # verified (sha256, shapes) and runnable like a shipped pack
    assert pack.manifest.name == "mr-iqdcnn"
    for patient in {t["patient_name"] for t in truth}:
        assert patient not in captured.out + captured.err  # no identifiers in what it prints


def test_bad_labels_give_one_clear_error(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    (tmp_path / "labels.csv").write_text("series_instance_uid,grade\n1.2.3,7\n")
    assert cli_main(["train", "mr", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--preset", "tiny"]) == 1
    assert "line 2: needs a series_instance_uid and a grade in 0-4" in capsys.readouterr().err
    assert cli_main(["train", "echo", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--data is supported for mr only" in capsys.readouterr().err
