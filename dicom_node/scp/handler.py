"""The C-STORE handler and the one wrapper that turns failures into DIMSE statuses.

The handler does only what the sender may wait for (CONVENTIONS.md "The network boundary"):
parse the header up to Pixel Data, check the pixel budget, write ``event.encoded_dataset()``
(the Part-10 stream exactly as received, no re-encoding) atomically with fsync, commit one
transaction, return 0x0000 (PS3.4 B.2.3). No pixel decoding, no outbound traffic.

Two receive modes give the same stored bytes: by default (``node.streaming_receive``) pynetdicom
streams the data set into the spool while it arrives (:mod:`.spool`, :func:`received_file`) and
the handler moves that file into the store; otherwise pynetdicom holds the data set in memory and
the handler writes it (zero-copy, :func:`encoded_parts`).
"""

from __future__ import annotations

import logging
import mmap
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, cast

from pynetdicom import _config
from pynetdicom.dsutils import encode_file_meta

from storage.db import Database
from storage.filestore import FileStore, StoredFile

from .header import InstanceHeader, check_pixel_budget, dataset_offset, parse_header
from .ingest import IngestOutcome, record_audit, record_instance
from .spool import claim
from .status import Phase, StoreStatus, describe, status_for

__all__ = ["StoreHandler", "Attempt", "AssociationAudit", "configure_dicom_libraries", "received_bytes"]

log = logging.getLogger(__name__)


@dataclass
class Attempt:
    """Progress of one C-STORE, read by the wrapper when something fails."""

    calling_aet: str | None
    phase: Phase = Phase.PARSE
    header: InstanceHeader | None = None
    stored: StoredFile | None = None
    outcome: IngestOutcome | None = None


def encoded_parts(event: Any) -> tuple[bytes, memoryview]:
    """``event.encoded_dataset()`` as (preamble + file meta, data set) without copying the data set.

    ``b"".join(encoded_parts(event)) == event.encoded_dataset()``: the same Part-10 bytes, but the
    data set is a view of pynetdicom's receive buffer instead of two copies of it (a 100 MB
    loop would otherwise be copied twice before it is written).
    """
    request = getattr(event, "request", None)
    buffer = getattr(request, "DataSet", None)
    if isinstance(buffer, BytesIO):
        head = b"".join((b"\x00" * 128, b"DICM", encode_file_meta(event.file_meta)))
        return head, buffer.getbuffer()
    data = event.encoded_dataset()
    offset = dataset_offset(data)
    return data[:offset], memoryview(data)[offset:]


def received_file(event: Any) -> Path | None:
    """The file pynetdicom streamed the data set to, when ``STORE_RECV_CHUNKED_DATASET`` is on.

    It is a complete Part-10 file (preamble, file meta, the data set bytes as received), the
    same bytes ``event.encoded_dataset()`` returns in the default mode.
    """
    try:
        path = event.dataset_path
    except AttributeError:
        return None
    return Path(path) if path is not None else None


def received_bytes(event: Any) -> bytes:
    """The received Part-10 file (preamble, file meta, data set as sent) in either receive mode.

    For SCPs that share a process with a streaming node, where ``event.encoded_dataset()``
    fails because pynetdicom's chunked receive is on for every AE.
    """
    path = received_file(event)
    if path is not None:
        return path.read_bytes()
    return event.encoded_dataset()


def _calling_aet(event: Any) -> str | None:
    try:
        title = event.assoc.requestor.ae_title
    except AttributeError:
        return None
    if isinstance(title, bytes):
        title = title.decode("ascii", "replace")
    return str(title).strip()[:16] or None


def configure_dicom_libraries() -> None:
    """Set the library globals the node relies on (idempotent).

    pynetdicom's standard event handlers log data set identifiers at DEBUG: they are switched
    off, so no patient attribute can reach a log. pydicom reads tolerantly (PS3.5 violations in
    received headers are stored as sent, never "fixed" and never echoed in warnings).
    """
    _config.LOG_HANDLER_LEVEL = "none"
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False
    from pydicom import config as pydicom_config

    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


class StoreHandler:
    """``evt.EVT_C_STORE`` handler bound to one database and file store.

    Parameters
    ----------
    db : storage.db.Database
    store : storage.filestore.FileStore
    max_pixels : int
        ``limits.max_pixels_per_instance``.
    on_stored : callable, optional
        Called with the new instance id after its row is committed (new instances and new
        versions, not duplicates). Its failures are logged and do not change the status.
    """

    def __init__(
        self,
        db: Database,
        store: FileStore,
        max_pixels: int,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        configure_dicom_libraries()
        self.db = db
        self.store = store
        self.max_pixels = max_pixels
        self.on_stored = on_stored

    def __call__(self, event: Any) -> int:
        """Handle one C-STORE request; never raises."""
        attempt = Attempt(calling_aet=_calling_aet(event))
        try:
            self._ingest(event, attempt)
        except Exception as exc:  # noqa: BLE001 — the DIMSE boundary: every failure becomes a status
            return int(self._fail(exc, attempt))
        if self.on_stored is not None and attempt.outcome is not None and not attempt.outcome.duplicate:
            try:
                self.on_stored(attempt.outcome.instance_id)
            except Exception as exc:  # noqa: BLE001 — the instance is safe; a wake-up hook must not fail it
                log.error("on_stored hook failed: %s", type(exc).__name__)
        return int(StoreStatus.SUCCESS)

    def _ingest(self, event: Any, attempt: Attempt) -> None:
        attempt.phase = Phase.PARSE
        received = received_file(event)
        if received is not None:
            attempt.stored = self._store_received_file(received, attempt)
        else:
            attempt.stored = self._store_buffer(event, attempt)
        stored, header = attempt.stored, cast(InstanceHeader, attempt.header)  # set by _check
        attempt.phase = Phase.COMMIT
        outcome = record_instance(self.db, header, stored, attempt.calling_aet)
        attempt.outcome = outcome
        attempt.phase = Phase.DONE
        if outcome.duplicate:
            try:  # the same bytes are already stored and current
                self.store.remove(stored.rel_path)
            except OSError as exc:
                log.error("could not remove a duplicate copy: %s", type(exc).__name__)
            log.debug("duplicate instance %s ignored", header.sop_instance_uid)
        else:
            log.debug(
                "stored instance id=%d version=%d sop=%s",
                outcome.instance_id,
                outcome.version,
                header.sop_instance_uid,
            )

    def _check(self, head: bytes, body: memoryview, attempt: Attempt) -> None:
        attempt.header = parse_header(head, body)
        attempt.phase = Phase.POLICY
        check_pixel_budget(attempt.header, self.max_pixels)

    def _store_buffer(self, event: Any, attempt: Attempt) -> StoredFile:
        """Default pynetdicom mode: the data set is in memory; write it with fsync."""
        head, body = encoded_parts(event)
        try:
            self._check(head, body, attempt)
            attempt.phase = Phase.WRITE
            return self.store.write_atomic((head, body))
        finally:
            body.release()  # pynetdicom's buffer must be resizable/closable again

    def _store_received_file(self, path: Path, attempt: Attempt) -> StoredFile:
        """Streaming mode: the Part-10 file is already at ``path``; check it and move it in.

        A :class:`~.spool.SpoolWriter` hashed it while it arrived, so keeping it costs an fsync
        of what the kernel has not written back yet and a rename. A file pynetdicom made itself
        (an SCP without a spool) is hashed and adopted.
        """
        writer = claim(path)
        if writer is not None and writer.error is not None:
            attempt.phase = Phase.WRITE
            raise writer.error  # the disk filled while the data set arrived
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                offset = dataset_offset(view)
                body = view[offset:]
                try:
                    self._check(bytes(view[:offset]), body, attempt)
                finally:
                    body.release()
            finally:
                view.release()
        attempt.phase = Phase.WRITE
        if writer is None:
            return self.store.adopt(path)
        stored = self.store.place(path, writer.size, writer.finish())
        writer.kept()
        return stored

    def _fail(self, exc: Exception, attempt: Attempt) -> StoreStatus:
        status = status_for(exc, attempt.phase)
        message = describe(exc, attempt.phase)
        log.warning(
            "C-STORE from %s refused with 0x%04X: %s", attempt.calling_aet or "?", int(status), message
        )
        if attempt.stored is not None and attempt.outcome is None:
            try:  # stored but not recorded: no file may outlive a failed C-STORE
                self.store.remove(attempt.stored.rel_path)
            except OSError as cleanup:
                log.error("could not remove unrecorded file: %s", type(cleanup).__name__)
        try:
            record_audit(
                self.db,
                kind="store.rejected" if status != StoreStatus.UNEXPECTED else "store.error",
                message=f"C-STORE refused with 0x{int(status):04X}; {message}",
                severity="warning" if status != StoreStatus.UNEXPECTED else "error",
                calling_aet=attempt.calling_aet,
                status=int(status),
                sop_instance_uid=attempt.header.sop_instance_uid if attempt.header else None,
            )
        except Exception as audit_exc:  # noqa: BLE001 — best effort: the database may be the failure
            log.error("audit row for a refused C-STORE not written: %s", type(audit_exc).__name__)
        return status


class AssociationAudit:
    """``evt.EVT_REJECTED`` handler: one audit row per rejected association (best effort)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, event: Any) -> None:
        calling = _calling_aet(event)
        log.warning("association from %s rejected", calling or "?")
        try:
            record_audit(
                self.db,
                kind="association.rejected",
                message="association rejected (calling/called AE title not allowed or limit reached)",
                calling_aet=calling,
            )
        except Exception as exc:  # noqa: BLE001 — event-handler boundary, best effort
            log.error("audit row for a rejected association not written: %s", type(exc).__name__)
