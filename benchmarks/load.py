"""Load benchmark: concurrent echo loops and MR series through a real ``cardiac-qa serve``.

Full size (the default): 8 associations x 50 multi-frame US loops plus two 150-slice MR series on
two more associations, all at once, into one ``cardiac-qa serve`` process (2 worker processes,
the test analyzers of ``tests/plugins`` standing in for the models so that the figures measure the
node: ingest, queue, report building, delivery) with a receiving PACS on loopback. Measured:
C-STORE latency percentiles, time until every unit is analysed and every output delivered,
analysis queue depth over time, peak RSS of the node and its workers, and the data directory's
peak disk use. Datasets are generated in memory, so the only disk use is the node's own.

The run is capped (``--cap-s``, default 600 s); a capped run still writes its figures with
``"completed": false``. Usage::

    python benchmarks/load.py [--small] [--cap-s 600] [--out benchmarks/results/load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.harness import Pacs, RelServe, free_port, percentile, send_timed  # noqa: E402
from tests.support.dicom_files import mr_slices, new_uid, us_multiframe  # noqa: E402


def _tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _disk_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


class Sampler(threading.Thread):
    """Samples queue depth (read-only SQLite), RSS of the process tree and disk use."""

    def __init__(self, db_path: Path, data_dir: Path, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.db_path, self.data_dir, self.pid, self.every = db_path, data_dir, pid, every
        self.stop = threading.Event()
        self.queue: list[tuple[float, int, int]] = []  # (t, pending, running)
        self.peak_rss_kib = 0
        self.peak_hwm_kib: dict[int, int] = {}
        self.peak_disk = 0
        self.t0 = time.monotonic()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(self.every):
            n += 1
            t = time.monotonic() - self.t0
            try:
                con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5)
                try:
                    counts = dict(con.execute("SELECT state, count(*) FROM analyses GROUP BY state").fetchall())
                finally:
                    con.close()
                self.queue.append((round(t, 1), counts.get("pending", 0), counts.get("running", 0)))
            except sqlite3.Error:
                pass
            pids = _tree_pids(self.pid)
            self.peak_rss_kib = max(self.peak_rss_kib, sum(_kib(p, "VmRSS") for p in pids))
            for p in pids:
                self.peak_hwm_kib[p] = max(self.peak_hwm_kib.get(p, 0), _kib(p, "VmHWM"))
            if n % 10 == 1:
                self.peak_disk = max(self.peak_disk, _disk_bytes(self.data_dir))


def _state(db_path: Path) -> dict[str, Any]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {
            "instances": con.execute("SELECT count(*) FROM instances").fetchone()[0],
            "analyses": dict(con.execute("SELECT state, count(*) FROM analyses WHERE superseded = 0 "
                                         "GROUP BY state").fetchall()),
            "outputs": con.execute("SELECT count(*) FROM outputs").fetchone()[0],
            "deliveries": dict(con.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()),
        }
    finally:
        con.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark once and return its figures."""
    root = Path(tempfile.mkdtemp(prefix="cqa-load-"))
    pacs = Pacs(free_port(), keep_bytes=False).start()
    port = free_port()
    node = RelServe(
        root, port, processes=args.processes, stable_seconds=2.0,
        extra={"logging": {"level": "WARNING"},
               "workers": {"max_pending": args.max_pending},
               "delivery": {"backoff_seconds": 1.0, "backoff_max_seconds": 5.0, "max_attempts": 50}},
        destinations=[{"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": pacs.port}],
    )
    db_path = node.data_dir / "cardiac_qa.sqlite3"
    results: list[list[tuple[str, int, float]]] = []
    sampler: Sampler | None = None
    t_start = time.monotonic()
    figures: dict[str, Any] = {}
    try:
        node.start(timeout=120)
        assert node.proc is not None
        sampler = Sampler(db_path, node.data_dir, node.proc.pid)
        sampler.start()

        def us_sender(i: int) -> None:
            loops = [us_multiframe(frames=args.frames, rows=args.rows, columns=args.columns, seed=1000 * i + k,
                                   study_uid=new_uid()) for k in range(args.loops)]
            results.append(send_timed(port, loops, calling_aet=f"US{i}"))

        def mr_sender(i: int) -> None:
            series = mr_slices(n=args.slices, rows=args.mr_size, columns=args.mr_size, seed=5000 + i)
            results.append(send_timed(port, series, calling_aet=f"MR{i}"))

        threads = [threading.Thread(target=us_sender, args=(i,)) for i in range(args.senders)]
        threads += [threading.Thread(target=mr_sender, args=(i,)) for i in range(args.series)]
        t_send = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, args.cap_s - (time.monotonic() - t_start)))
        send_s = time.monotonic() - t_send
        units = args.senders * args.loops + args.series
        sent = args.senders * args.loops + args.series * args.slices
        analysed_s = delivered_s = None
        completed = False
        while time.monotonic() - t_start < args.cap_s:
            st = _state(db_path)
            done = st["analyses"].get("done", 0)
            if analysed_s is None and done >= units:
                analysed_s = time.monotonic() - t_send
            if analysed_s is not None and st["outputs"] and st["deliveries"].get("delivered", 0) == st["outputs"]:
                delivered_s = time.monotonic() - t_send
                completed = True
                break
            time.sleep(1.0)
        sampler.stop.set()
        sampler.join(10)
        st = _state(db_path)
        statuses = Counter(f"0x{s:04X}" if s >= 0 else "none" for r in results for _, s, _ in r)
        lat = [secs for r in results for _, s, secs in r if s == 0]
        pending = [p for _, p, _ in sampler.queue]
        figures = {
            "benchmark": "load",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                     "load_avg_at_end": os.getloadavg()},
            "config": {k: v for k, v in vars(args).items() if k != "out"},
            "completed": completed,
            "instances_sent": sent,
            "statuses": dict(statuses),
            "instances_stored": st["instances"],
            "units": units,
            "analyses": st["analyses"],
            "outputs": st["outputs"],
            "deliveries": st["deliveries"],
            "pacs_objects": len(pacs.uids()),
            "pacs_resends": sum(n - 1 for n in pacs.received.values()),
            "send_seconds": round(send_s, 1),
            "ingest_throughput_instances_per_s": round(sent / send_s, 1) if send_s else None,
            "c_store_latency_ms": {q: round(percentile(lat, v) * 1000, 1)
                                   for q, v in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))}
            | {"max": round(max(lat) * 1000, 1) if lat else None},
            "all_analysed_after_s": round(analysed_s, 1) if analysed_s else None,
            "all_delivered_after_s": round(delivered_s, 1) if delivered_s else None,
            "queue_depth": {"max_pending": max(pending, default=0),
                            "samples": sampler.queue[:: max(1, len(sampler.queue) // 60)]},
            "peak_rss_mib": {"tree_sum": round(sampler.peak_rss_kib / 1024, 1),
                             "max_process_hwm": round(max(sampler.peak_hwm_kib.values(), default=0) / 1024, 1)},
            "disk": {"peak_data_dir_mib": round(max(sampler.peak_disk, _disk_bytes(node.data_dir)) / 2**20, 1)},
        }
    finally:
        if sampler is not None:
            sampler.stop.set()
        if node.proc is not None:
            try:
                node.terminate(timeout=60)
            except Exception:  # noqa: BLE001 — best effort shutdown of a benchmark
                node.kill_group()
        pacs.stop()
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--loops", type=int, default=50)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--columns", type=int, default=160)
    ap.add_argument("--series", type=int, default=2)
    ap.add_argument("--slices", type=int, default=150)
    ap.add_argument("--mr-size", type=int, default=64)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--max-pending", type=int, default=1000)
    ap.add_argument("--cap-s", type=float, default=600.0)
    ap.add_argument("--small", action="store_true", help="CI size: 4 x 5 loops + one 20-slice series")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = ap.parse_args(argv)
    if args.small:
        args.senders, args.loops, args.series, args.slices = 4, 5, 1, 20
    figures = run(args)
    print(json.dumps({k: v for k, v in figures.items() if k != "queue_depth"}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures.get("completed") else 1


if __name__ == "__main__":
    sys.exit(main())
