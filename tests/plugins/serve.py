"""Harness for tests that drive a real ``cardiac-qa serve`` process with the test analyzers.

Writes the node's TOML (free port, temporary ``data_dir``, short windows, the test analyzers
overriding ``echo-regional`` / ``mr-wholeheart`` by name), starts ``cardiac-qa serve``
(through ``dicom_node.cli.main.main``) in its own process group with ``PYTHONPATH`` including the repository,
and offers bounded polling, a pynetdicom SCU and the ``cardiac-qa`` CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from .analyzers import CALLS_ENV

__all__ = ["REPO", "ServeProcess", "echo_ok", "send_datasets", "wait_for"]

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Not ``-m dicom_node.cli.main``: runpy warns when the package already imported that module.
_CLI = [sys.executable, "-c", "import sys; from dicom_node.cli.main import main; sys.exit(main(sys.argv[1:]))"]

PLUGINS = (
    "tests.plugins.analyzers:EchoCountingAnalyzer",
    "tests.plugins.analyzers:MrCountingAnalyzer",
)


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def echo_ok(port: int, ae_title: str = "CARDIAC_QA") -> bool:
    """Whether a C-ECHO to 127.0.0.1:``port`` succeeds."""
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 2
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return bool(status) and status.Status == 0x0000
    finally:
        assoc.release()


def send_datasets(
    port: int,
    datasets: Iterable[Dataset],
    on_ack: Callable[[Dataset], None] | None = None,
    ae_title: str = "CARDIAC_QA",
) -> dict[str, int]:
    """C-STORE every dataset over one association; SOP Instance UID → status (-1: none received).

    ``on_ack`` is called for each dataset acknowledged with 0x0000. Stops at the first dataset
    without a response (association aborted).
    """
    items = list(datasets)
    ae = AE(ae_title="TESTSCU")
    for cls in sorted({str(ds.SOPClassUID) for ds in items}):
        ae.add_requested_context(cls, sorted({str(ds.file_meta.TransferSyntaxUID) for ds in items}))
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    statuses: dict[str, int] = {str(ds.SOPInstanceUID): -1 for ds in items}
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    if not assoc.is_established:
        return statuses
    try:
        for ds in items:
            if not assoc.is_established:
                break
            status = assoc.send_c_store(ds)
            if not status:
                break
            statuses[str(ds.SOPInstanceUID)] = int(status.Status)
            if status.Status == 0x0000 and on_ack is not None:
                on_ack(ds)
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


@dataclass
class ServeProcess:
    """One ``cardiac-qa serve`` process and its configuration."""

    root: Path
    port: int
    stable_seconds: float = 1.5
    processes: int = 1
    plugins: tuple[str, ...] = PLUGINS
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = self.root / "data"
        self.config = self.root / "node.toml"
        self.calls = self.root / "calls.jsonl"
        self.config.write_text(
            "\n".join(
                [
                    "[node]",
                    'bind_address = "127.0.0.1"',
                    f"port = {self.port}",
                    "[storage]",
                    f"data_dir = {json.dumps(str(self.data_dir))}",
                    "[assembly]",
                    f"series_stable_seconds = {self.stable_seconds}",
                    "poll_seconds = 0.2",
                    "[workers]",
                    f"processes = {self.processes}",
                    'providers = "cpu"',
                    "[analyzers]",
                    f"plugins = {json.dumps(list(self.plugins))}",
                    "",
                ]
            )
        )
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            CALLS_ENV: str(self.calls),
        }
        self.env.pop("CARDIAC_QA_CONFIG", None)

    @property
    def log(self) -> Path:
        return self.root / f"serve-{self.starts}.log"

    def start(self, timeout: float = 60.0) -> None:
        """Start the node and wait until it answers C-ECHO."""
        self.starts += 1
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*_CLI, "serve", "--config", str(self.config)],
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self._alive() and echo_ok(self.port), timeout, "the node to answer C-ECHO", 0.2)

    def _alive(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        return True

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for a clean exit; return the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill_group()

    def kill(self) -> None:
        """SIGKILL the serve process only (its workers must notice and exit by themselves)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def kill_group(self) -> None:
        """Kill whatever is left of the process group (test clean-up)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``cardiac-qa ARGS --config <this node's config>``."""
        done = subprocess.run(
            [*_CLI, *args, "--config", str(self.config)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"cardiac-qa {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done

    def cli_here(self, *args: str) -> str:
        """Run ``cardiac-qa ARGS --config …`` in this process (click's runner); return stdout."""
        from click.testing import CliRunner

        from dicom_node.cli.main import cli

        result = CliRunner().invoke(cli, [*args, "--config", str(self.config)], catch_exceptions=False)
        assert result.exit_code == 0, f"cardiac-qa {' '.join(args)} exited {result.exit_code}: {result.output}"
        return result.stdout

    def cli_json(self, *args: str) -> Any:
        """``cli_here(*args, "--json")`` parsed."""
        return json.loads(self.cli_here(*args, "--json"))

    def logs(self) -> str:
        return "".join((self.root / f"serve-{i}.log").read_text() for i in range(1, self.starts + 1))
