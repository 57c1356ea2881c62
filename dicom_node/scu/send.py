"""C-STORE SCU: send Part-10 files as they are (PS3.4 B.2, PS3.7 9.1.1).

Each file is proposed with its own SOP class and transfer syntax (no transcoding), so a JPEG or
RLE file travels byte for byte. An SCU may propose at most 128 presentation contexts per
association (PS3.8 9.3.2.2, presentation context IDs are odd numbers 1-255), so the files are
sent over as many associations as their distinct (SOP class, transfer syntax) pairs need.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.presentation import build_context

__all__ = ["SendResult", "SendError", "send_files", "expand_paths", "MAX_CONTEXTS"]

log = logging.getLogger(__name__)
MAX_CONTEXTS = 128


class SendError(Exception):
    """The association could not be established (refused, rejected, unreachable)."""

    code = "send_failed"


@dataclass(frozen=True)
class SendResult:
    """Outcome for one file.

    Attributes
    ----------
    path : Path
    status : int or None
        DIMSE status from the peer; None when no response was received.
    error : str or None
        Why the file was not stored (no patient data).
    """

    path: Path
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Success (0x0000) or a warning (0x0001, 0xB000-0xBFFF, PS3.4 B.2.3)."""
        return self.status is not None and (
            self.status in (0x0000, 0x0001) or 0xB000 <= self.status <= 0xBFFF
        )


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class: str
    transfer_syntax: str


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories replaced by their files (recursively, sorted)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        else:
            out.append(p)
    return out


def _inspect(path: Path) -> _File:
    with path.open("rb") as f:
        read_preamble(f, force=False)
        meta = _read_file_meta_info(f)
    sop_class = str(meta.get("MediaStorageSOPClassUID", "")).strip()
    ts = str(meta.get("TransferSyntaxUID", "")).strip()
    if not sop_class or not ts or "MediaStorageSOPInstanceUID" not in meta:
        raise InvalidDicomError("file meta lacks the SOP class, instance or transfer syntax UID")
    return _File(path, sop_class, ts)


def _batches(files: list[_File]) -> Iterator[list[_File]]:
    batch: list[_File] = []
    pairs: set[tuple[str, str]] = set()
    for f in files:
        pair = (f.sop_class, f.transfer_syntax)
        if pair not in pairs and len(pairs) == MAX_CONTEXTS:
            yield batch
            batch, pairs = [], set()
        pairs.add(pair)
        batch.append(f)
    if batch:
        yield batch


def send_files(
    host: str,
    port: int,
    paths: Iterable[Path],
    *,
    calling_aet: str = "CARDIAC_QA_SCU",
    called_aet: str = "ANY-SCP",
    ssl_context: ssl.SSLContext | None = None,
    acse_timeout: float = 30.0,
    dimse_timeout: float = 60.0,
    network_timeout: float = 60.0,
) -> list[SendResult]:
    """Send each file with C-STORE and report a status per file.

    Parameters
    ----------
    host, port : str, int
        The peer.
    paths : iterable of Path
        Part-10 files (directories are not expanded here; see :func:`expand_paths`).
    calling_aet, called_aet : str
        Our and the peer's AE titles.
    ssl_context : ssl.SSLContext, optional
        Client-side TLS context.

    Returns
    -------
    list of SendResult
        In input order. Unreadable files get ``status=None`` and an error.

    Raises
    ------
    SendError
        An association was rejected, aborted or could not be opened.
    """
    paths = list(paths)
    results: dict[Path, SendResult] = {}
    files: list[_File] = []
    for p in paths:
        try:
            files.append(_inspect(p))
        except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
            results[p] = SendResult(p, None, f"not a DICOM Part-10 file ({type(exc).__name__})")
    # Stream each data set from its file as stored, never decode and re-encode it (pynetdicom
    # >= 2.0; only affects sending by path).
    _config.STORE_SEND_CHUNKED_DATASET = True
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout, ae.dimse_timeout, ae.network_timeout = acse_timeout, dimse_timeout, network_timeout
    ae.maximum_pdu_size = 0
    for batch in _batches(files):
        contexts = sorted({(f.sop_class, f.transfer_syntax) for f in batch})
        ae.requested_contexts = [build_context(cls, [ts]) for cls, ts in contexts]
        tls = (ssl_context, host) if ssl_context is not None else None
        assoc = ae.associate(host, port, ae_title=called_aet, tls_args=tls)
        if not assoc.is_established:
            why = "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "not established"
            raise SendError(f"association with {called_aet}@{host}:{port} {why}")
        try:
            for f in batch:
                results[f.path] = _send_one(assoc, f)
                if not assoc.is_established:
                    raise SendError(f"association with {called_aet}@{host}:{port} aborted by the peer")
        finally:
            if assoc.is_established:
                assoc.release()
    return [results[p] for p in paths]


def _send_one(assoc: Association, f: _File) -> SendResult:
    accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
    if (f.sop_class, f.transfer_syntax) not in accepted:
        return SendResult(f.path, None, "peer did not accept this SOP class / transfer syntax")
    rsp = assoc.send_c_store(f.path)
    status = getattr(rsp, "Status", None)
    if status is None:
        return SendResult(f.path, None, "no response (timeout or abort)")
    status = int(status)
    result = SendResult(f.path, status)
    log.info("sent %s: 0x%04X", f.path.name, status)
    return result
