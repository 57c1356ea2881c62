"""Streaming receive: pynetdicom writes each incoming data set straight into the node's spool.

In ``STORE_RECV_CHUNKED_DATASET`` mode pynetdicom streams a C-STORE data set, PDV by PDV, into
a file object made by ``pynetdicom.dimse_messages.NamedTemporaryFile`` (only ``write``,
``file.flush``, ``close`` and ``name`` are used). :func:`register` replaces that factory once
with one that, on the receive thread of an association of a registered AE, returns a
:class:`SpoolWriter` in that AE's spool folder; every other AE gets pynetdicom's own temporary
file. The writer

- hashes (SHA-256) the bytes as they arrive, on a helper thread for large data sets, so
  nothing is read back after the last PDV;
- starts the kernel's write-back every 8 MB (``sync_file_range``), so the disk works during
  the transfer and the final ``fsync`` waits for the tail only; once a window is on disk its
  pages are dropped from the page cache (``POSIX_FADV_DONTNEED``): a loop is written once and
  read again later, and recycling a few MB of cache is much cheaper than taking fresh pages
  for every byte (on this project's VMs page allocation was most of the receive's CPU time);
- never raises into pynetdicom: a write error (ENOSPC) is kept, the partial file removed and
  the rest of the data set discarded; the C-STORE handler then answers 0xA700 instead of the
  association being aborted.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import logging
import os
import queue
import threading
import uuid
import weakref
from pathlib import Path
from typing import Any

from pynetdicom import _config, dimse_messages

__all__ = ["SpoolWriter", "abandon", "claim", "register", "unregister"]

log = logging.getLogger(__name__)

_KICK = 8 * 1024 * 1024  # start write-back after this many new bytes
_THREAD_FROM = 4 * 1024 * 1024  # hash larger data sets on a helper thread
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_ALL = 1 | 2 | 4  # WAIT_BEFORE | WRITE | WAIT_AFTER


def _load_sync_file_range() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError, TypeError):  # not Linux: fsync at the end does it all
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _load_sync_file_range()


def _hash_loop(items: queue.Queue[bytes | memoryview | None], digest: Any) -> None:
    # No reference to the writer: an abandoned writer must stay collectable.
    while (item := items.get()) is not None:
        digest.update(item)


def _discard(state: dict[str, Any]) -> None:
    """Stop hashing, close and remove a writer's file unless it was kept (finalizer; never raises)."""
    items = state.pop("queue", None)
    if items is not None:
        items.put(None)
    fd, path = state.pop("fd", None), state.pop("path", None)
    with contextlib.suppress(OSError):
        if fd is not None:
            os.close(fd)
    with contextlib.suppress(OSError):
        if path is not None:
            os.unlink(path)


class SpoolWriter:
    """A file in the spool that a streamed data set is written to (see the module docstring).

    Parameters
    ----------
    spool_dir : Path
        Folder on the file store's file system (``FileStore.spool_dir``).
    """

    def __init__(self, spool_dir: Path) -> None:
        self.path = Path(spool_dir) / f"{uuid.uuid4().hex}.part"
        self.name = str(self.path)  # what pynetdicom reports as ``event.dataset_path``
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)  # independent of the process umask
        self._state: dict[str, Any] = {"fd": fd, "path": self.name}
        self._finalizer = weakref.finalize(self, _discard, self._state)  # an aborted transfer
        self._digest = hashlib.sha256()
        self.size = 0
        self._kicked = 0
        self._dropped = 0
        self.error: OSError | None = None
        self._hasher: threading.Thread | None = None
        _WRITERS[self.name] = self

    @property
    def file(self) -> SpoolWriter:
        """pynetdicom calls ``file.flush()`` after every PDV; writes here are unbuffered."""
        return self

    def flush(self) -> None:
        """Nothing to flush (every write is an ``os.write``)."""

    def write(self, data: bytes | memoryview) -> int:
        """Append ``data``; after a failure the bytes are discarded (never raises)."""
        n = len(data)
        fd = self._state.get("fd")
        if self.error is not None or fd is None:
            return n
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            self.error = exc
            self._stop_hashing()
            log.warning("streamed data set could not be written: %s", exc.strerror or type(exc).__name__)
            _discard(self._state)  # give the space back now; the handler answers 0xA700
            return n
        self._hash(data)
        self.size += n
        if self.size - self._kicked >= _KICK:
            try:
                self._write_back(fd)
            except OSError:  # advice only: the final fsync is the guarantee
                self._kicked = self.size
        return n

    def _write_back(self, fd: int) -> None:
        """Start write-back of the new bytes; wait for the previous window and drop its pages."""
        if _sync_file_range is None:
            return
        _sync_file_range(fd, self._kicked, self.size - self._kicked, _SYNC_FILE_RANGE_WRITE)
        if self._kicked > self._dropped:
            _sync_file_range(fd, self._dropped, self._kicked - self._dropped, _SYNC_FILE_RANGE_ALL)
            os.posix_fadvise(fd, self._dropped, self._kicked - self._dropped, os.POSIX_FADV_DONTNEED)
            self._dropped = self._kicked
        self._kicked = self.size

    def _hash(self, data: bytes | memoryview) -> None:
        """SHA-256 on this thread for the first MB, then on a helper thread (the other core)."""
        if self._hasher is None:
            if self.size < _THREAD_FROM:
                self._digest.update(data)
                return
            items: queue.Queue[bytes | memoryview | None] = queue.Queue(maxsize=32)  # a slow hash slows the receive
            self._state["queue"] = items
            self._hasher = threading.Thread(
                target=_hash_loop, args=(items, self._digest), name="spool-sha256", daemon=True
            )
            self._hasher.start()
        items = self._state.get("queue")
        if items is not None:
            items.put(data)

    def _stop_hashing(self) -> None:
        items = self._state.pop("queue", None)
        if items is not None and self._hasher is not None:
            items.put(None)
            self._hasher.join()

    def finish(self) -> str:
        """Make the file durable (``fsync``) and close it; return its SHA-256 (hex).

        Raises
        ------
        OSError
            The write error met while receiving (the file is already removed), or the fsync's.
        """
        if self.error is not None:
            raise self.error
        fd = self._state.pop("fd", None)
        if fd is None:
            raise OSError("the streamed data set was already closed")
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._stop_hashing()
        return self._digest.hexdigest()

    def kept(self) -> None:
        """The file was moved into the store: the finalizer must not remove it."""
        self._state.pop("path", None)

    def close(self) -> None:
        """Close the file descriptor if still open (pynetdicom calls this after the handler)."""
        self._stop_hashing()
        fd = self._state.pop("fd", None)
        if fd is not None:
            os.close(fd)


_WRITERS: weakref.WeakValueDictionary[str, SpoolWriter] = weakref.WeakValueDictionary()
_SPOOLS: weakref.WeakKeyDictionary[Any, Path] = weakref.WeakKeyDictionary()  # AE -> its spool
_BY_ASSOC: weakref.WeakKeyDictionary[Any, weakref.WeakSet[SpoolWriter]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_ORIGINAL = dimse_messages.NamedTemporaryFile
_SWITCH_BEFORE = False


def _named_temporary_file(*args: Any, **kwargs: Any) -> Any:
    assoc = getattr(threading.current_thread(), "assoc", None)
    ae = getattr(assoc, "ae", None)
    spool_dir = _SPOOLS.get(ae) if ae is not None else None
    if spool_dir is None:
        return _ORIGINAL(*args, **kwargs)
    writer = SpoolWriter(spool_dir)
    with _LOCK:
        _BY_ASSOC.setdefault(assoc, weakref.WeakSet()).add(writer)
    return writer


def abandon(assoc: Any) -> int:
    """Remove the partial files of ``assoc`` (its connection closed); return how many.

    A data set cut off by an abort never reaches the C-STORE handler; without this its file
    would wait for the garbage collector. A writer whose handler has begun to keep it
    (``finish``) is left alone.
    """
    with _LOCK:
        writers = list(_BY_ASSOC.pop(assoc, ()))
    removed = 0
    for writer in writers:
        if writer._state.get("fd") is not None:
            _discard(writer._state)
            removed += 1
    return removed


def register(ae: Any, spool_dir: Path) -> None:
    """Stream data sets received by ``ae`` into ``spool_dir``.

    Switches pynetdicom's chunked receive on (for every AE of the process: the others get
    pynetdicom's own temporary files) and installs the factory once.
    """
    global _SWITCH_BEFORE
    with _LOCK:
        if not _SPOOLS:
            _SWITCH_BEFORE = _config.STORE_RECV_CHUNKED_DATASET
        _SPOOLS[ae] = Path(spool_dir)
        dimse_messages.NamedTemporaryFile = _named_temporary_file  # type: ignore[assignment]
        _config.STORE_RECV_CHUNKED_DATASET = True


def unregister(ae: Any) -> None:
    """Stop streaming ``ae``'s data sets; the last one restores pynetdicom's switch."""
    with _LOCK:
        if _SPOOLS.pop(ae, None) is not None and not _SPOOLS:
            _config.STORE_RECV_CHUNKED_DATASET = _SWITCH_BEFORE


def claim(path: Path | str) -> SpoolWriter | None:
    """The :class:`SpoolWriter` behind ``event.dataset_path``; None when pynetdicom made the file."""
    return _WRITERS.get(str(path))
