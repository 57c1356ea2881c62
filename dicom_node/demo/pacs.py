"""The embedded receiving PACS of the demo: a pynetdicom Storage SCP on loopback.

It accepts every storage SOP class (the SR and SC outputs of the node among them) in the
usual transfer syntaxes, writes each received object to ``<folder>/<n>.dcm`` (a counter, never a
UID or patient data) and keeps an in-memory index of what arrived so the demo can wait for it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts

from dicom_node.scp import received_bytes

__all__ = ["EmbeddedPacs", "ReceivedObject", "PACS_TRANSFER_SYNTAXES"]

log = logging.getLogger(__name__)

PACS_TRANSFER_SYNTAXES: list[str] = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]


@dataclass(frozen=True)
class ReceivedObject:
    """One object the embedded PACS stored."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    calling_aet: str


class EmbeddedPacs:
    """A minimal receiving PACS (C-ECHO and C-STORE SCP) for the demo and the tests.

    Parameters
    ----------
    folder : Path
        Where received objects are written (created).
    ae_title : str
        The AE title it answers to.
    port : int
        TCP port on 127.0.0.1; 0 picks a free one (read :attr:`port` after :meth:`start`).
    """

    def __init__(self, folder: Path, ae_title: str = "DEMO_PACS", port: int = 0) -> None:
        self.folder = Path(folder)
        self.ae_title = ae_title
        self._port = port
        self._lock = threading.Lock()
        self._received: dict[str, ReceivedObject] = {}
        self._counter = 0
        self._server = None
        self._arrived = threading.Condition(self._lock)

    @property
    def port(self) -> int:
        """The bound port (valid once started)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    @property
    def received(self) -> list[ReceivedObject]:
        """Everything stored so far (newest version per SOP Instance UID)."""
        with self._lock:
            return list(self._received.values())

    def has(self, sop_instance_uids: set[str]) -> bool:
        """True when every UID in ``sop_instance_uids`` has arrived."""
        with self._lock:
            return sop_instance_uids <= set(self._received)

    def start(self) -> EmbeddedPacs:
        """Start listening on 127.0.0.1 in a background thread."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ae = AE(ae_title=self.ae_title)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, PACS_TRANSFER_SYNTAXES)
        ae.add_supported_context("1.2.840.10008.1.1")  # Verification
        ae.maximum_pdu_size = 0
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, lambda event: 0x0000)]
        self._server = ae.start_server(("127.0.0.1", self._port), block=False, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        """Stop listening and close every association."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> EmbeddedPacs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_store(self, event: evt.Event) -> int:
        """C-STORE handler: write the encoded dataset as received, index it, return Success."""
        try:
            ds = event.dataset
            with self._lock:
                self._counter += 1
                n = self._counter
            path = self.folder / f"{n:05d}.dcm"
            tmp = path.with_suffix(".part")
            with open(tmp, "wb") as fh:
                fh.write(received_bytes(event))
            tmp.replace(path)
            obj = ReceivedObject(
                path=path,
                sop_class_uid=str(ds.SOPClassUID),
                sop_instance_uid=str(ds.SOPInstanceUID),
                series_instance_uid=str(getattr(ds, "SeriesInstanceUID", "")),
                calling_aet=str(event.assoc.requestor.ae_title).strip(),
            )
            with self._arrived:
                self._received[obj.sop_instance_uid] = obj
                self._arrived.notify_all()
        except Exception as exc:  # noqa: BLE001 — DIMSE handler boundary: a status, not a crash
            log.warning("embedded PACS could not store an object: %s", type(exc).__name__)
            return 0xA700
        return 0x0000
