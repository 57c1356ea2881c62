"""C-STORE of the demo's synthetic files to the node (one association, as a modality would)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

__all__ = ["SendError", "send_files"]


class SendError(Exception):
    """The node refused the association or a C-STORE failed."""

    code = "demo_send_failed"


def send_files(
    host: str,
    port: int,
    called_aet: str,
    paths: Iterable[Path],
    calling_aet: str = "DEMO_MODALITY",
    on_sent: Callable[[Path], None] | None = None,
) -> int:
    """Send every file in ``paths`` over one association; return how many were stored.

    Raises
    ------
    SendError
        When the association is rejected or any C-STORE returns a non-success status.
    """
    files = sorted(Path(p) for p in paths)
    contexts: set[tuple[str, str]] = set()
    for path in files:
        meta = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"]).file_meta
        contexts.add((str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)))
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    # One presentation context per (SOP class, transfer syntax): the acceptor picks one
    # syntax per context, so a context listing several would leave the other files without one.
    for sop_class, ts in sorted(contexts):
        ae.add_requested_context(sop_class, [ts])
    for sop_class in sorted({c for c, _ in contexts}):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    if len(ae.requested_contexts) > 128:
        raise SendError("too many SOP classes for one association (more than 128 contexts)")
    assoc = ae.associate(host, port, ae_title=called_aet)
    if not assoc.is_established:
        raise SendError(f"association to {called_aet}@{host}:{port} was rejected or could not be made")
    sent = 0
    try:
        for path in files:
            status = assoc.send_c_store(dcmread(path))
            code = getattr(status, "Status", None)
            if code is None or code not in (0x0000, 0xB000, 0xB007, 0xB006):
                shown = "no response" if code is None else f"0x{code:04X}"
                raise SendError(f"C-STORE of {path.name} failed with status {shown}")
            sent += 1
            if on_sent is not None:
                on_sent(path)
    finally:
        assoc.release()
    return sent
