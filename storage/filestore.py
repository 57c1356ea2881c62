"""Durable file store for received instances and produced outputs.

Layout under ``data_dir`` (created with mode 0700)::

    spool/                      files being written (cleaned at start-up)
    instances/<aa>/<bb>/<uuid4>.dcm
    outputs/<aa>/<bb>/<uuid4>.dcm

A file is first written into ``spool/``, flushed and fsynced, then moved into place with
:func:`os.replace` (atomic on POSIX within one file system) and the destination directory is
fsynced, so a crash leaves either the complete file or none in ``instances/``. File names are
random UUIDs: they never come from patient data or from UIDs chosen by the sender.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["FileStore", "StoredFile", "FileStoreError", "KINDS"]

KINDS: tuple[str, ...] = ("instances", "outputs")
_SPOOL = "spool"
_CHUNK = 8 * 1024 * 1024  # large writes are split so hashing and writing stay cache-friendly


class FileStoreError(OSError):
    """A file-store operation was refused (bad kind or a path outside the store)."""

    code = "filestore_error"


@dataclass(frozen=True)
class StoredFile:
    """A file committed to the store.

    Attributes
    ----------
    rel_path : str
        POSIX path relative to ``data_dir`` (what the database records).
    size : int
        Size in bytes.
    sha256 : str
        Lower-case hex SHA-256 of the stored bytes.
    """

    rel_path: str
    size: int
    sha256: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise FileStoreError(f"unknown file-store kind {kind!r} (allowed: {', '.join(KINDS)})")


def _chunks(data: bytes | bytearray | memoryview | Iterable[bytes]) -> Iterable[memoryview]:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), _CHUNK):
            yield view[start : start + _CHUNK]
        return
    for piece in data:
        yield memoryview(piece).cast("B")


class _Hasher:
    """SHA-256 of the chunks, computed in a helper thread while they are written.

    hashlib and os.write both release the GIL on large buffers, so for a large instance the
    hash costs no extra wall time; small files are hashed inline (a thread costs more).
    """

    _THREADED_FROM = 4 * 1024 * 1024

    def __init__(self, chunks: list[memoryview]) -> None:
        self._digest = hashlib.sha256()
        self._chunks = chunks
        self._thread: threading.Thread | None = None
        if sum(len(c) for c in chunks) >= self._THREADED_FROM:
            self._thread = threading.Thread(target=self._run, name="filestore-sha256", daemon=True)

    def _run(self) -> None:
        for chunk in self._chunks:
            self._digest.update(chunk)

    def __enter__(self) -> _Hasher:
        if self._thread is not None:
            self._thread.start()
        else:
            self._run()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.join()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class FileStore:
    """Atomic, fsynced storage of DICOM files below one data directory.

    Parameters
    ----------
    data_dir : Path
        Root directory; created (mode 0700) with ``spool/``, ``instances/`` and ``outputs/``.
    """

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in (_SPOOL, *KINDS):
            (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        self.spool_dir = self.root / _SPOOL

    def write_atomic(
        self, data: bytes | bytearray | memoryview | Iterable[bytes], kind: str = "instances"
    ) -> StoredFile:
        """Write ``data`` durably and return where it is.

        Parameters
        ----------
        data : bytes or iterable of bytes
            The complete file content (for instances: the Part-10 file as received).
        kind : {"instances", "outputs"}
            Top-level folder.

        Returns
        -------
        StoredFile
            Relative path, size and SHA-256 of what was written.

        Raises
        ------
        OSError
            Disk full, permissions, I/O error. No partial file is left behind.
        """
        _check_kind(kind)
        name = uuid.uuid4().hex
        spool_path = self.spool_dir / f"{name}.part"
        chunks = list(_chunks(data))
        size = 0
        fd = os.open(spool_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with _Hasher(chunks) as hasher:
                try:
                    os.fchmod(fd, 0o600)  # independent of the process umask
                    for chunk in chunks:
                        while chunk:
                            written = os.write(fd, chunk)
                            chunk = chunk[written:]
                            size += written
                    os.fsync(fd)
                finally:
                    os.close(fd)
            sha256 = hasher.hexdigest()
            rel = self._move_in(spool_path, kind)
        except BaseException:
            spool_path.unlink(missing_ok=True)
            raise
        return StoredFile(rel_path=str(rel), size=size, sha256=sha256)

    def adopt(self, source: Path, kind: str = "instances") -> StoredFile:
        """Move an already written file into the store durably, hashing it on the way.

        Used when the network layer has streamed a received data set to a file while it
        arrived (no second write). The file is fsynced (in a helper thread, while it is hashed
        through ``mmap``), renamed into ``kind/<aa>/<bb>/<uuid4>.dcm`` and the directory fsynced.
        When ``source`` is on another file system it is copied through the spool instead and
        removed.

        Raises
        ------
        OSError
            The file is then left where it was (its owner removes it).
        """
        _check_kind(kind)
        source = Path(source)
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syncer = threading.Thread(target=os.fsync, args=(fd,), name="filestore-fsync", daemon=True)
            syncer.start()
            digest = hashlib.sha256()
            size = os.fstat(fd).st_size
            if size:
                with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
                    digest.update(mapped)
            syncer.join()
            os.fsync(fd)  # cheap when the helper has flushed; surfaces an I/O error it hit
        finally:
            os.close(fd)
        if source.stat().st_dev != self.root.stat().st_dev:
            with source.open("rb") as f:
                stored = self.write_atomic(iter(lambda: f.read(_CHUNK), b""), kind)
            source.unlink(missing_ok=True)
            return stored
        return self.place(source, size, digest.hexdigest(), kind)

    def place(self, source: Path, size: int, sha256: str, kind: str = "instances") -> StoredFile:
        """Rename a complete, already fsynced file of this file system into the store.

        ``size`` and ``sha256`` describe its content (the caller computed them while writing
        it). The file becomes ``kind/<aa>/<bb>/<uuid4>.dcm`` (mode 0600) and the directory is
        fsynced, so it is durable when this returns.

        Raises
        ------
        OSError
            The file is then left where it was (its owner removes it).
        """
        _check_kind(kind)
        os.chmod(source, 0o600)
        return StoredFile(rel_path=str(self._move_in(Path(source), kind)), size=size, sha256=sha256)

    def _move_in(self, source: Path, kind: str) -> PurePosixPath:
        """Rename ``source`` to ``kind/<aa>/<bb>/<uuid4>.dcm`` and fsync the directories it touched."""
        name = uuid.uuid4().hex
        rel = PurePosixPath(kind, name[:2], name[2:4], f"{name}.dcm")
        target = self.root / rel
        created = self._make_parents(target.parent)
        os.replace(source, target)
        _fsync_dir(target.parent)
        for directory in created:  # new directories must be durable in their parents too
            _fsync_dir(directory.parent)
        return rel

    def _make_parents(self, directory: Path) -> list[Path]:
        created: list[Path] = []
        for parent in (directory.parent, directory):
            if not parent.is_dir():
                try:
                    parent.mkdir(mode=0o700)
                    created.append(parent)
                except FileExistsError:  # another thread made it meanwhile
                    pass
        return created

    def path(self, rel_path: str) -> Path:
        """Absolute path of a stored file; refuses paths that leave the store."""
        candidate = (self.root / rel_path).resolve()
        if not candidate.is_relative_to(self.root) or candidate == self.root:
            raise FileStoreError("path is outside the file store")
        return candidate

    def remove(self, rel_path: str) -> None:
        """Delete a stored file (missing files are ignored) and fsync its directory."""
        target = self.path(rel_path)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(target.parent)

    def clean_spool(self) -> int:
        """Delete files left in ``spool/`` by an interrupted write; return how many.

        Call once at start-up, before accepting associations.
        """
        removed = 0
        for entry in self.spool_dir.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed += 1
        if removed:
            _fsync_dir(self.spool_dir)
        return removed
