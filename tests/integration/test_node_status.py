"""``cardiac-qa status`` data: queue by state, backpressure, destinations, disabled analyzers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from config.settings import load_settings
from dicom_node.cli.main import cli
from dicom_node.cli.status import collect_status
from dicom_node.node import STATE_FILE, read_node_state
from storage.db import open_database
from storage.schema import Analysis, AnalysisState, Delivery, DeliveryState, Output, Series, Study


def test_status_reports_queue_backpressure_destinations_and_disabled(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        f'[storage]\ndata_dir = {json.dumps(str(tmp_path / "data"))}\n'
        '[workers]\nmax_pending = 2\n'
        '[analyzers]\nplugins = ["tests.plugins.analyzers:MissingPackAnalyzer", "tests.nowhere:Nothing"]\n'
        '[[destinations]]\nname = "pacs"\nae_title = "PACS"\nhost = "127.0.0.1"\nport = 11113\n'
    )
    settings = load_settings(config)
    db = open_database(settings)
    try:
        with db.session() as s:
            study = Study(study_instance_uid="1.2.3")
            s.add(study)
            s.flush()
            series = Series(study_id=study.id, series_instance_uid="1.2.3.1", modality="US")
            s.add(series)
            s.flush()
            states = [AnalysisState.PENDING, AnalysisState.PENDING, AnalysisState.DONE, AnalysisState.FAILED]
            rows = [Analysis(analysis_uid=f"2.25.{i}", series_id=series.id, unit_kind="instance",
                             analyzer="echo-regional", state=st) for i, st in enumerate(states)]
            s.add_all(rows)
            s.flush()
            out = Output(analysis_id=rows[2].id, kind="sr", sop_class_uid="1.2", sop_instance_uid="2.25.9",
                         series_instance_uid="2.25.8", file_path="outputs/x.dcm", size=1, sha256="0" * 64)
            s.add(out)
            s.flush()
            s.add_all([Delivery(output_id=out.id, destination="pacs", state=DeliveryState.FAILED),
                       Delivery(output_id=out.id, destination="old-pacs", state=DeliveryState.PENDING)])
        st = collect_status(db, settings)
    finally:
        db.dispose()
    assert st["queue"] == {"pending": 2, "running": 0, "done": 1, "skipped": 0, "failed": 1}
    assert st["backpressure"] is True and st["node"]["running"] is False
    pacs, old = sorted(st["destinations"], key=lambda d: d["name"] != "pacs")
    assert (pacs["name"], pacs["failed"], pacs["pending"], pacs["configured"]) == ("pacs", 1, 0, True)
    assert (old["name"], old["pending"], old["configured"]) == ("old-pacs", 1, False)
    disabled = {d["analyzer"]: d["reason"] for d in st["disabled_analyzers"]}
    assert "cqa-test-no-such-pack not found" in disabled["needs-pack"]
    assert "tests.nowhere:Nothing" in disabled

    text = CliRunner().invoke(cli, ["status", "--config", str(config)]).stdout
    assert "backpressure: YES" in text and "pacs" in text and "disabled analyzer needs-pack" in text


def test_node_state_file_names_a_live_process(tmp_path: Path) -> None:
    settings = load_settings(None, storage={"data_dir": tmp_path})
    assert read_node_state(settings) is None
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "started_at": "x"}))
    assert read_node_state(settings)["pid"] == os.getpid()
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": 2**22 + 12345}))  # beyond pid_max: dead
    assert read_node_state(settings) is None
