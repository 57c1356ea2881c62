"""Outbound C-STORE of stored output files to one destination (PS3.4 B.2, PS3.7 9.1.1).

All files for one destination travel on one association: one presentation context per distinct
(SOP class, transfer syntax) of the files, each proposed with the file's own transfer syntax so
the JPEG Secondary Captures are sent byte for byte (no transcoding). The result is one outcome per
file; nothing here touches the database (that is :mod:`dicom_node.delivery`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.filereader import _read_file_meta_info, read_preamble
from pynetdicom import AE
from pynetdicom.presentation import build_context

from config.settings import Destination, Settings

__all__ = ["StoreOutcome", "store_files", "MAX_CONTEXTS"]

log = logging.getLogger(__name__)
MAX_CONTEXTS = 128  # PS3.8 9.3.2.2: presentation context IDs are odd numbers 1..255


@dataclass(frozen=True)
class StoreOutcome:
    """The outcome of sending one file: ``ok`` on success or warning (PS3.4 B.2.3)."""

    ok: bool
    status: int | None
    error: str | None = None


def _meta(path: Path) -> tuple[str, str, str]:
    with path.open("rb") as f:
        read_preamble(f, force=False)
        meta = _read_file_meta_info(f)
    return (
        str(meta.MediaStorageSOPClassUID),
        str(meta.TransferSyntaxUID),
        str(meta.MediaStorageSOPInstanceUID),
    )


def _is_ok(status: int) -> bool:
    return status in (0x0000, 0x0001) or 0xB000 <= status <= 0xBFFF


def store_files(destination: Destination, paths: Sequence[Path], settings: Settings) -> list[StoreOutcome]:
    """C-STORE ``paths`` to ``destination`` on one association; one outcome per path, in order.

    Unreachable peers, rejections and aborts give every not-yet-stored file a failed outcome with
    the reason; this function does not raise for network problems.
    """
    outcomes: list[StoreOutcome | None] = [None] * len(paths)
    metas: list[tuple[str, str, str] | None] = []
    for i, p in enumerate(paths):
        try:
            metas.append(_meta(Path(p)))
        except Exception as exc:  # noqa: BLE001 — an unreadable file is that file's failure
            metas.append(None)
            outcomes[i] = StoreOutcome(False, None, f"cannot read output file: {type(exc).__name__}")
    pairs = sorted({(m[0], m[1]) for m in metas if m is not None})[:MAX_CONTEXTS]
    if pairs:
        ae = AE(ae_title=destination.calling_ae_title or settings.node.ae_title)
        ae.acse_timeout = settings.node.acse_timeout
        ae.dimse_timeout = settings.node.dimse_timeout
        ae.network_timeout = settings.node.network_timeout
        contexts = [build_context(cls, [ts]) for cls, ts in pairs]
        assoc = None
        try:
            assoc = ae.associate(
                destination.host, destination.port, contexts=contexts, ae_title=destination.ae_title
            )
        except Exception as exc:  # noqa: BLE001 — socket errors vary by platform
            log.debug("association to %s failed: %s", destination.name, exc)
        if assoc is None or not assoc.is_established:
            if assoc is not None and assoc.is_rejected:
                reason = f"association rejected by {destination.ae_title}"
            else:  # pynetdicom reports a refused TCP connection as an abort
                reason = (
                    f"cannot connect to {destination.host}:{destination.port} (refused, timed out or aborted)"
                )
            return [o or StoreOutcome(False, None, reason) for o in outcomes]
        try:
            for i, (p, m) in enumerate(zip(paths, metas, strict=True)):
                if m is None:
                    continue
                if not assoc.is_established:
                    outcomes[i] = StoreOutcome(False, None, "association lost")
                    continue
                accepted = any(
                    c.abstract_syntax == m[0] and c.transfer_syntax[0] == m[1]
                    for c in assoc.accepted_contexts
                )
                if not accepted:
                    outcomes[i] = StoreOutcome(False, None, f"peer accepts no context for {m[0]} in {m[1]}")
                    continue
                rsp = assoc.send_c_store(Path(p))
                status = int(rsp.Status) if rsp is not None and "Status" in rsp else None
                if status is None:
                    outcomes[i] = StoreOutcome(False, None, "no response (timeout or abort)")
                elif _is_ok(status):
                    outcomes[i] = StoreOutcome(True, status)
                else:
                    outcomes[i] = StoreOutcome(False, status, f"C-STORE status 0x{status:04X}")
        finally:
            if assoc.is_established:
                assoc.release()
    return [o or StoreOutcome(False, None, "not sent") for o in outcomes]
