"""``StoreSCP``: the node's listening Application Entity (C-ECHO and C-STORE).

PS3.7 9.1.1 (C-STORE), 9.1.5 (C-ECHO); PS3.8 7.1 (association negotiation); PS3.15 B.1 (TLS).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.transport import ThreadedAssociationServer

from config.settings import NodeSection, Settings
from storage.db import Database
from storage.filestore import FileStore

from . import spool
from .contexts import ACCEPTED_TRANSFER_SYNTAXES, VERIFICATION, storage_sop_classes
from .handler import AssociationAudit, StoreHandler, configure_dicom_libraries

__all__ = ["StoreSCP", "configure_dicom_libraries", "build_ssl_context"]

log = logging.getLogger(__name__)


def build_ssl_context(node: NodeSection) -> ssl.SSLContext | None:
    """Server-side TLS context from ``tls_cert``/``tls_key``; mutual TLS when ``tls_ca`` is set.

    Returns None when TLS is not configured (PS3.15 B.1: TLS 1.2 or newer).
    """
    if node.tls_cert is None or node.tls_key is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile=str(node.tls_cert), keyfile=str(node.tls_key))
    if node.tls_ca is not None:
        ctx.load_verify_locations(cafile=str(node.tls_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class StoreSCP:
    """The C-STORE/C-ECHO acceptor of the node.

    Parameters
    ----------
    settings : config.settings.Settings
        Uses ``node.*`` (AE title, address, port, allow-list, limits, timeouts, TLS) and
        ``limits.max_pixels_per_instance``.
    db : storage.db.Database
    store : storage.filestore.FileStore
    on_stored : callable, optional
        Called with the instance id after each new instance's row is committed.

    Notes
    -----
    With ``node.streaming_receive`` (the default) each received data set is streamed into
    ``store.spool_dir`` while it arrives (pynetdicom's ``STORE_RECV_CHUNKED_DATASET`` with the
    node's :mod:`.spool` writer) instead of being held in memory. While such an SCP runs,
    pynetdicom's switch is on for the whole process: another SCP in the same process must read
    ``event.dataset`` or ``event.dataset_path`` (:func:`received_bytes` does), not
    ``event.encoded_dataset()``.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: FileStore,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        configure_dicom_libraries()
        self.streaming = settings.node.streaming_receive
        self.settings = settings
        self.db = db
        self.store = store
        self.handler = StoreHandler(db, store, settings.limits.max_pixels_per_instance, on_stored)
        self._server: ThreadedAssociationServer | None = None
        self._ae = self._build_ae(settings.node)

    @staticmethod
    def _build_ae(node: NodeSection) -> AE:
        ae = AE(ae_title=node.ae_title)
        ae.maximum_pdu_size = 0  # no limit: the peer sends the largest PDUs it can
        ae.maximum_associations = node.max_associations
        ae.acse_timeout = node.acse_timeout
        ae.dimse_timeout = node.dimse_timeout
        ae.network_timeout = node.network_timeout
        ae.require_calling_aet = list(node.allowed_calling_aets)
        ae.require_called_aet = node.require_called_aet
        ae.add_supported_context(VERIFICATION, list(ACCEPTED_TRANSFER_SYNTAXES[:3]))
        for sop_class in storage_sop_classes(node.accept_all_storage):
            ae.add_supported_context(sop_class, list(ACCEPTED_TRANSFER_SYNTAXES))
        return ae

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` actually listened on (useful with port 0)."""
        if self._server is None:
            return (self.settings.node.bind_address, self.settings.node.port)
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    @property
    def active_associations(self) -> int:
        """Number of associations currently open with this SCP."""
        if self._server is None:
            return 0
        return len(self._server.active_associations)

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        """Listen; returns once the socket is bound and accepting associations.

        The spool is not cleaned here: the process owner calls ``FileStore.clean_spool()`` once at
        start-up before any writer (SCP or worker) runs.
        """
        if self._server is not None:
            return
        if self.streaming:
            spool.register(self._ae, self.store.spool_dir)
        node = self.settings.node
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self.handler),
            (evt.EVT_REJECTED, AssociationAudit(self.db)),
            (evt.EVT_ACCEPTED, _log_accepted),
            (evt.EVT_ABORTED, _log_aborted),
            (evt.EVT_CONN_CLOSE, _drop_partial_files),
        ]
        self._server = self._ae.start_server(
            (node.bind_address, node.port),
            block=False,
            evt_handlers=handlers,
            ssl_context=build_ssl_context(node),
        )
        log.info(
            "listening as %s on %s:%d%s", node.ae_title, *self.address, " (TLS)" if node.tls_cert else ""
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, abort open associations and wait for their handlers to return.

        An instance whose handler is still committing finishes (and stays consistent); the
        sender sees the abort and retries the instances it has no success status for.
        """
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # also closes the listening socket
        associations = list(self._ae.active_associations)
        self._ae.shutdown()
        for assoc in associations:
            assoc.join(timeout)
        spool.unregister(self._ae)
        log.info("stopped listening")

    def __enter__(self) -> StoreSCP:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _peer(event: Any) -> str:
    requestor = event.assoc.requestor
    return f"{str(requestor.ae_title).strip()}@{requestor.address}"


def _log_accepted(event: Any) -> None:
    log.info("association accepted from %s", _peer(event))


def _log_aborted(event: Any) -> None:
    log.warning("association with %s aborted", _peer(event))


def _drop_partial_files(event: Any) -> None:
    removed = spool.abandon(event.assoc)
    if removed:
        log.warning("connection closed during a transfer: %d partial data set(s) removed", removed)

