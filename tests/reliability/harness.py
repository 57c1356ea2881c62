"""Shared harness of the reliability suite: sentinel PHI, a receiving PACS, a configurable serve.

Everything listens on 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from sqlalchemy import select

from dicom_node.scp import received_bytes
from storage.db import Database
from storage.schema import Analysis, Delivery, Instance, Output
from tests.plugins.serve import PLUGINS, ServeProcess

__all__ = [
    "SENTINELS",
    "Pacs",
    "RelServe",
    "counts",
    "free_port",
    "stamp_phi",
    "assert_no_phi",
    "GATE_ENV",
    "STARTED_ENV",
    "percentile",
    "send_timed",
    "wait_until",
]

# Sentinel patient: every dataset of this suite carries it; none of it may reach a log.
PHI_NAME = "SENTINEL^PHI^ZZTOP"
PHI_ID = "PHI-SENTINEL-4711"
PHI_BIRTH = "19010203"
PHI_ACCESSION = "ACC4711ZZTOP"
SENTINELS: tuple[str, ...] = ("ZZTOP", PHI_ID, PHI_BIRTH, PHI_ACCESSION, "SENTINEL^PHI")

GATE_ENV = "CQA_REL_GATE"  # a file: the gated analyzer waits until it exists
STARTED_ENV = "CQA_REL_STARTED"  # a file: the gated analyzer appends one line per start


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stamp_phi(ds: Dataset) -> Dataset:
    """Put the suite's sentinel patient into ``ds`` (name, id, birth date, accession); return it."""
    ds.PatientName = PHI_NAME
    ds.PatientID = PHI_ID
    ds.PatientBirthDate = PHI_BIRTH
    ds.AccessionNumber = PHI_ACCESSION
    ds.StudyDescription = "ZZTOP free text study"
    return ds


def assert_no_phi(text: str, where: str) -> None:
    """Fail when any sentinel string occurs in ``text``."""
    for s in SENTINELS:
        assert s not in text, f"sentinel patient data {s!r} found in {where}"


class Pacs:
    """A receiving C-STORE SCP on 127.0.0.1 that keeps one object per SOP Instance UID.

    ``received`` counts every C-STORE per SOP Instance UID (a resend is counted again);
    ``objects`` keeps the latest bytes per UID, as a PACS would. With :meth:`hold` the next
    C-STORE blocks (without answering) until :meth:`release`.
    """

    def __init__(self, port: int, ae_title: str = "PACS", keep_bytes: bool = True) -> None:
        self.port = port
        self.keep_bytes = keep_bytes
        self.ae_title = ae_title
        self.received: Counter[str] = Counter()
        self.objects: dict[str, bytes] = {}
        self.first: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._hold = threading.Event()
        self._release = threading.Event()
        self.holding = threading.Event()
        self._server: Any = None
        ae = AE(ae_title=ae_title)
        ae.require_called_aet = True
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
        self._ae = ae

    def _on_store(self, event: Any) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        data = received_bytes(event) if self.keep_bytes else b""
        with self._lock:
            self.received[uid] += 1
            self.objects[uid] = data
            self.first.setdefault(uid, data)
        if self._hold.is_set():
            self._hold.clear()
            self.holding.set()
            self._release.wait(60)
        return 0x0000

    def hold(self) -> None:
        """Block the next C-STORE (after recording it) until :meth:`release`."""
        self._release.clear()
        self.holding.clear()
        self._hold.set()

    def release(self) -> None:
        self._release.set()

    def start(self) -> Pacs:
        self._server = self._ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)]
        )
        return self

    def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def uids(self) -> set[str]:
        with self._lock:
            return set(self.received)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))


class RelServe(ServeProcess):
    """:class:`ServeProcess` with extra configuration (sections merged over the harness's own).

    Parameters
    ----------
    extra : dict
        ``{"section": {"key": value}}`` merged into the TOML.
    destinations : list of dict
        ``[[destinations]]`` tables.
    """

    def __init__(
        self,
        root: Path,
        port: int,
        *,
        extra: dict[str, dict[str, Any]] | None = None,
        destinations: Iterable[dict[str, Any]] = (),
        plugins: tuple[str, ...] = PLUGINS,
        env: dict[str, str] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(root, port, plugins=plugins, **kw)
        sections: dict[str, dict[str, Any]] = {
            "node": {"bind_address": "127.0.0.1", "port": port},
            "storage": {"data_dir": self.data_dir},
            "assembly": {"series_stable_seconds": self.stable_seconds, "poll_seconds": 0.2},
            "workers": {"processes": self.processes, "providers": "cpu"},
            "analyzers": {"plugins": list(plugins)},
            "logging": {"level": "DEBUG"},
        }
        for name, values in (extra or {}).items():
            sections.setdefault(name, {}).update(values)
        lines: list[str] = []
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        for dest in destinations:
            lines.append("[[destinations]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in dest.items()]
        self.config.write_text("\n".join(lines) + "\n")
        self.env.update(env or {})

    def db(self) -> Database:
        return Database(f"sqlite:///{self.data_dir / 'cardiac_qa.sqlite3'}")


def counts(db: Database) -> dict[str, Any]:
    """Rows of interest: instances, analyses by state, output UIDs, deliveries by state."""
    with db.session() as s:
        instances = [r.sop_instance_uid for r in s.scalars(select(Instance))]
        analyses = list(s.scalars(select(Analysis)))
        outputs = [o.sop_instance_uid for o in s.scalars(select(Output))]
        deliveries = list(s.scalars(select(Delivery)))
    return {
        "instances": instances,
        "analyses": Counter(a.state.value for a in analyses),
        "live_analyses": [a for a in analyses if not a.superseded],
        "outputs": outputs,
        "deliveries": Counter(d.state.value for d in deliveries),
        "delivery_rows": deliveries,
    }


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def send_timed(
    port: int, datasets: Iterable[Dataset], calling_aet: str = "MODALITY", called_aet: str = "CARDIAC_QA"
) -> list[tuple[str, int, float]]:
    """C-STORE every dataset over one association: (SOP Instance UID, status, seconds) each.

    Status -1 means no response (association aborted or refused).
    """
    items = list(datasets)
    ae = AE(ae_title=calling_aet)
    for cls in sorted({str(ds.SOPClassUID) for ds in items}):
        ae.add_requested_context(cls, sorted({str(ds.file_meta.TransferSyntaxUID) for ds in items}))
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    out: list[tuple[str, int, float]] = []
    assoc = ae.associate("127.0.0.1", port, ae_title=called_aet)
    if not assoc.is_established:
        return [(str(ds.SOPInstanceUID), -1, 0.0) for ds in items]
    try:
        for ds in items:
            t0 = time.perf_counter()
            status = assoc.send_c_store(ds) if assoc.is_established else None
            took = time.perf_counter() - t0
            out.append((str(ds.SOPInstanceUID), int(status.Status) if status else -1, took))
    finally:
        if assoc.is_established:
            assoc.release()
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
