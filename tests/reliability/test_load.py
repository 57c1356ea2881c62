"""Load at CI size, against a real ``cardiac-qa serve`` and a receiving PACS on loopback.

4 concurrent associations x 5 small multi-frame US loops while a small MR series arrives on a
fifth: every instance is stored, every unit analysed exactly once, every output delivered exactly
once (one C-STORE per output SOP Instance UID). The node runs at DEBUG and its whole log is checked
for the sentinel patient. Backpressure is in ``test_faults.py`` (it shares the gated node).
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.schema import AnalysisState, AuditEvent
from tests.plugins.analyzers import read_calls
from tests.reliability.harness import (
    Pacs,
    RelServe,
    assert_no_phi,
    counts,
    percentile,
    send_timed,
    stamp_phi,
    wait_until,
)
from tests.support.dicom_files import mr_slices, new_uid, us_multiframe

SENDERS = 4
LOOPS_PER_SENDER = 5
MR_SLICES = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The node's database: SQLite in ``data_dir`` (the default), or a fresh PostgreSQL database."""
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_concurrent_load_every_instance_stored_analysed_and_delivered_once(
    tmp_path: Path, port: int, pacs: Pacs, database_url: str | None
) -> None:
    pacs.start()
    node = RelServe(
        tmp_path,
        port,
        processes=2,
        stable_seconds=1.0,
        extra={"delivery": {"backoff_seconds": 0.5, "backoff_max_seconds": 2.0, "max_attempts": 30},
               "storage": {"database_url": database_url} if database_url else {}},
        destinations=[{"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": pacs.port}],
    )
    batches = [
        [
            stamp_phi(us_multiframe(frames=8, rows=48, columns=64, seed=100 * s + i, study_uid=new_uid()))
            for i in range(LOOPS_PER_SENDER)
        ]
        for s in range(SENDERS)
    ]
    batches.append([stamp_phi(ds) for ds in mr_slices(n=MR_SLICES, seed=7)])
    sent = {str(ds.SOPInstanceUID) for b in batches for ds in b}
    results: list[list[tuple[str, int, float]]] = [[] for _ in batches]
    db = None
    try:
        node.start()

        def run(i: int) -> None:
            results[i] = send_timed(port, batches[i], calling_aet=f"MOD{i}")

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(batches))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a sender stalled"
        statuses = Counter(status for r in results for _, status, _ in r)
        assert statuses == Counter({0x0000: len(sent)}), statuses
        latencies = [secs for r in results for _, _, secs in r]

        db = Database(database_url) if database_url else node.db()
        units = SENDERS * LOOPS_PER_SENDER + 1

        def finished() -> bool:
            c = counts(db)
            live = c["live_analyses"]
            return (
                len(live) == units
                and all(a.state == AnalysisState.DONE for a in live)
                and len(c["outputs"]) > 0
                and c["deliveries"].get("delivered", 0) == len(c["outputs"])
            )

        wait_until(finished, 150, "every unit analysed and every output delivered")
        c = counts(db)
        # every acknowledged instance is stored, once
        assert sorted(c["instances"]) == sorted(sent)
        # every unit analysed exactly once (the analyzer was called once per unit)
        calls = read_calls(node.calls)
        per_unit = Counter(tuple(sorted(call["sop_instance_uids"])) for call in calls)
        assert len(per_unit) == units and set(per_unit.values()) == {1}, per_unit
        assert c["analyses"] == Counter({"done": units})
        # every output delivered exactly once, one object per SOP Instance UID at the PACS
        assert len(set(c["outputs"])) == len(c["outputs"])
        assert pacs.uids() == set(c["outputs"])
        assert set(pacs.received.values()) == {1}, "an output was sent more than once"
        # privacy: nothing of the sentinel patient in the DEBUG log or the audit rows
        with db.session() as s:
            audit = " ".join(a.message for a in s.scalars(select(AuditEvent)))
        assert_no_phi(node.logs(), "the serve log (DEBUG)")
        assert_no_phi(audit, "audit messages")
        print(
            f"\nload ({database_url.split(':')[0] if database_url else 'sqlite'}): {len(sent)} instances on {len(batches)} associations; C-STORE latency "
            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms; {units} analyses; {len(c['outputs'])} outputs delivered once"
        )
    finally:
        if db is not None:
            db.dispose()
        if node.proc is not None:
            node.terminate()
