"""``cardiac-qa demo``: the whole product end to end on loopback, in one process tree.

Node (SQLite under ``OUT/var``, free port, short MR stability window) → embedded PACS as the
only destination → synthetic studies sent by C-STORE → wait (bounded) for every SR/SC at the
PACS → table, PNG overlays and ``summary.html`` in ``OUT`` → clean shutdown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from config.settings import Settings
from dicom_node.web.queries import AnalysisRow, list_analyses
from storage.schema import Analysis, AnalysisState, Delivery, DeliveryState, Output

from .inputs import DemoInputs, generate_inputs
from .pacs import EmbeddedPacs
from .sender import send_files
from .summary import format_table, write_overlays, write_summary_html

__all__ = ["DemoError", "DemoOptions", "DemoReport", "demo_settings", "run_demo"]

log = logging.getLogger(__name__)

NODE_AET = "CARDIAC_QA"
PACS_AET = "DEMO_PACS"
MODALITY_AET = "DEMO_MODALITY"
TERMINAL = {AnalysisState.DONE, AnalysisState.SKIPPED, AnalysisState.FAILED}


class DemoError(Exception):
    """The demo could not run (a component failed to start or an input could not be sent)."""

    code = "demo_failed"


@dataclass
class DemoOptions:
    """What the demo runs; ``small`` is the quick set (the default of ``make demo``)."""

    out: Path
    small: bool = True
    n_echo: int | None = None
    n_mr: int | None = None
    seed: int = 7
    timeout_s: float = 280.0
    progress: bool = True
    workers: int = 2
    dashboard: bool = False
    #: model packs to install as site packs (``data_dir/packs``) before the node starts
    packs: Path | None = None
    #: extra settings, merged per section over the demo's own (tests, experiments)
    overrides: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> tuple[int, int]:
        """Echo and MR study counts (small: 3 + 3, full: 7 + 5, unless given)."""
        echo = self.n_echo if self.n_echo is not None else (3 if self.small else 7)
        mr = self.n_mr if self.n_mr is not None else (3 if self.small else 5)
        return echo, mr


@dataclass
class DemoReport:
    """The outcome: one row per analysis, what the PACS received, files written."""

    rows: list[AnalysisRow]
    received: int
    expected_analyses: int
    overlays: list[Path] = field(default_factory=list)
    summary_html: Path | None = None
    wall_s: float = 0.0
    complete: bool = False
    problems: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_settings(
    data_dir: Path,
    node_port: int,
    pacs_port: int,
    workers: int = 2,
    dashboard_port: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """The embedded defaults: SQLite in ``data_dir``, loopback, quick windows, PACS destination."""
    values: dict[str, Any] = dict(
        node={"ae_title": NODE_AET, "bind_address": "127.0.0.1", "port": node_port},
        storage={"data_dir": data_dir},
        assembly={"series_stable_seconds": 2.0, "poll_seconds": 0.5},
        workers={"processes": max(1, workers), "threads_per_process": 1, "providers": "cpu"},
        delivery={"max_attempts": 5, "backoff_seconds": 1.0, "backoff_max_seconds": 4.0},
        logging={"level": "WARNING"},
        dashboard={"enabled": dashboard_port is not None, "port": dashboard_port or 8080},
        destinations=[{"name": "demo-pacs", "ae_title": PACS_AET, "host": "127.0.0.1", "port": pacs_port}],
    )
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(**values)


def _prepare_out(out: Path) -> None:
    state = out / "var" / "node-state.json"  # written by a running node (dicom_node.node.STATE_FILE)
    try:
        pid = int(json.loads(state.read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    else:
        raise DemoError(f"a node (pid {pid}) is still running on {out / 'var'}: stop it or use another --out")
    out.mkdir(parents=True, exist_ok=True)
    # Only the folders the demo itself writes are cleared: a rerun starts from an empty node.
    for name in ("var", "input", "pacs", "overlays"):
        shutil.rmtree(out / name, ignore_errors=True)
    (out / "summary.html").unlink(missing_ok=True)


def _install_packs(src: Path, dst: Path, echo: Callable[[str], None]) -> None:
    """Copy every pack folder (one with a manifest.json) under ``src`` into the site pack folder."""
    manifests = sorted(src.glob("*/manifest.json")) + sorted(src.glob("manifest.json"))
    if not manifests:
        raise DemoError(f"--packs {src}: no model pack (folder with manifest.json) found")
    for manifest in manifests:
        shutil.copytree(manifest.parent, dst / manifest.parent.name, dirs_exist_ok=True)
        echo(f"site pack {manifest.parent.name} installed from {manifest.parent}")


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (main thread), without a KeyboardInterrupt anywhere."""
    if threading.current_thread() is not threading.main_thread():
        threading.Event().wait()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_echo(port: int, timeout_s: float) -> None:
    from pynetdicom import AE

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ae = AE(ae_title=MODALITY_AET)
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
        if assoc.is_established:
            assoc.send_c_echo()
            assoc.release()
            return
        time.sleep(0.2)
    raise DemoError(f"the node did not answer C-ECHO on 127.0.0.1:{port} within {timeout_s:.0f} s")


def _progress_snapshot(db: Any) -> dict[str, Any]:
    """Counts the wait loop needs, from one short session."""
    from sqlalchemy import func, select

    with db.session() as s:
        states = dict(
            s.execute(
                select(Analysis.state, func.count())
                .where(Analysis.superseded.is_(False))
                .group_by(Analysis.state)
            ).all()
        )
        done_without_outputs = s.scalar(
            select(func.count())
            .select_from(Analysis)
            .where(Analysis.superseded.is_(False), Analysis.state == AnalysisState.DONE)
            .where(~Analysis.outputs.any())
        )
        deliveries = s.execute(
            select(Delivery.state, Output.sop_instance_uid).join(Output, Delivery.output_id == Output.id)
        ).all()
    return {
        "terminal": sum(n for st, n in states.items() if st in TERMINAL),
        "failed": int(states.get(AnalysisState.FAILED, 0)),
        "done_without_outputs": int(done_without_outputs or 0),
        "deliveries": len(deliveries),
        "pending": sum(1 for st, _ in deliveries if st == DeliveryState.PENDING),
        "delivery_failed": sum(1 for st, _ in deliveries if st == DeliveryState.FAILED),
        "delivered_uids": {uid for st, uid in deliveries if st == DeliveryState.DELIVERED},
    }


def _wait(db: Any, pacs: EmbeddedPacs, inputs: DemoInputs, opts: DemoOptions, deadline: float) -> list[str]:
    """Poll (bounded) until every unit is analysed and every output is at the PACS."""
    expected = inputs.expected_analyses
    with (
        tqdm(total=expected, desc="analysing", unit="unit", disable=not opts.progress, leave=True) as a_bar,
        tqdm(total=0, desc="delivering", unit="obj", disable=not opts.progress, leave=True) as d_bar,
    ):
        while True:
            snap = _progress_snapshot(db)
            a_bar.update(min(snap["terminal"], expected) - a_bar.n)
            if d_bar.total != snap["deliveries"]:
                d_bar.total = snap["deliveries"]
                d_bar.refresh()
            at_pacs = len(snap["delivered_uids"] & {r.sop_instance_uid for r in pacs.received})
            d_bar.update(at_pacs - d_bar.n)
            finished = (
                snap["terminal"] >= expected
                and snap["done_without_outputs"] == 0
                and snap["pending"] == 0
                and at_pacs == len(snap["delivered_uids"])
            )
            if finished:
                problems = []
                if snap["failed"]:
                    problems.append(f"{snap['failed']} analyses failed (see `cardiac-qa show ID`)")
                if snap["delivery_failed"]:
                    problems.append(f"{snap['delivery_failed']} deliveries failed (see `cardiac-qa outbox`)")
                return problems
            if time.monotonic() > deadline:
                problems = []
                if snap["terminal"] < expected:
                    problems.append(f"{expected - snap['terminal']} of {expected} units not analysed")
                if snap["done_without_outputs"]:
                    problems.append(f"{snap['done_without_outputs']} analyses without SR/SC outputs")
                if snap["pending"]:
                    problems.append(f"{snap['pending']} deliveries still pending")
                return problems
            time.sleep(0.5)


def run_demo(opts: DemoOptions, echo: Callable[[str], None] = print) -> DemoReport:
    """Run the demo; print progress and the table through ``echo``; return the report.

    Raises
    ------
    DemoError
        A component could not start or the inputs could not be sent.
    """
    from dicom_node.node import Node
    from storage.db import open_database

    t0 = time.monotonic()
    out = Path(opts.out).resolve()
    _prepare_out(out)
    n_echo, n_mr = opts.counts()
    cpus = os.cpu_count() or 1
    pacs = EmbeddedPacs(out / "pacs", ae_title=PACS_AET).start()
    node = None
    db = None
    dashboard = None
    try:
        dash_port = _free_port() if opts.dashboard else None
        settings = demo_settings(
            out / "var", _free_port(), pacs.port, min(opts.workers, cpus), dash_port, opts.overrides
        )
        echo(f"embedded PACS {PACS_AET} listening on 127.0.0.1:{pacs.port}")
        if opts.packs is not None:
            _install_packs(Path(opts.packs), out / "var" / "packs", echo)
        node = Node(settings)
        node.start()
        _wait_echo(settings.node.port, 30.0)
        echo(f"node {NODE_AET} listening on 127.0.0.1:{settings.node.port} (data in {out / 'var'})")
        if dash_port:
            if getattr(node, "dashboard", None) is None:  # the node did not start it itself
                from dicom_node.web import DashboardServer

                dashboard = DashboardServer(settings, node.db, node.store).start()
            echo(f"dashboard: http://127.0.0.1:{dash_port}/")
        echo(f"generating {n_echo} echo + {n_mr} MR synthetic studies ({'small' if opts.small else 'full'})")
        inputs = generate_inputs(out / "input", n_echo, n_mr, opts.seed, opts.small)
        with tqdm(total=len(inputs.files), desc="sending", unit="file", disable=not opts.progress) as bar:
            send_files(
                "127.0.0.1",
                settings.node.port,
                NODE_AET,
                inputs.files,
                MODALITY_AET,
                on_sent=lambda _p: bar.update(1),
            )
        db = open_database(settings)
        problems = _wait(db, pacs, inputs, opts, t0 + opts.timeout_s)
        with db.session() as s:
            rows = list(reversed(list_analyses(s)))
        overlays = write_overlays(db, pacs, out / "overlays")
        wall = time.monotonic() - t0
        report = DemoReport(
            rows=rows,
            received=len(pacs.received),
            expected_analyses=inputs.expected_analyses,
            overlays=overlays,
            wall_s=wall,
            complete=not problems,
            problems=problems,
        )
        report.summary_html = write_summary_html(out / "summary.html", report, out)
        echo("")
        echo(format_table(rows))
        echo("")
        echo(
            f"{report.received} objects received by {PACS_AET}; {len(overlays)} overlay images in "
            f"{out / 'overlays'}; summary: {report.summary_html}"
        )
        if opts.dashboard:
            echo("dashboard still running; press Ctrl-C to stop")
            _wait_for_signal()
        return report
    finally:
        with _signals_ignored():  # a second Ctrl-C must not leave a half-stopped node behind
            if dashboard is not None:
                dashboard.stop()
            if db is not None:
                db.dispose()
            if node is not None:
                node.stop(grace_seconds=10.0)
            pacs.stop()
