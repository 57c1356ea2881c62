"""storage.filestore: atomic, fsynced writes; layout; permissions; spool clean-up."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from storage.filestore import FileStore, FileStoreError, StoredFile


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_layout_and_permissions(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    for sub in ("spool", "instances", "outputs"):
        assert (tmp_path / "data" / sub).is_dir()
    assert _mode(tmp_path / "data") == 0o700
    stored = store.write_atomic(b"abc")
    assert isinstance(stored, StoredFile)
    path = store.path(stored.rel_path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700 and _mode(path.parent.parent) == 0o700
    parts = Path(stored.rel_path).parts
    assert parts[0] == "instances" and len(parts) == 4
    assert parts[1] == parts[3][:2] and parts[2] == parts[3][2:4] and parts[3].endswith(".dcm")
    with pytest.raises(FrozenInstanceError):
        stored.size = 1  # type: ignore[misc]


def test_bytes_and_iterable_give_same_hash_and_size(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)
    a = store.write_atomic(data)
    b = store.write_atomic(iter([data[:1000], data[1000:]]), kind="outputs")
    assert a.sha256 == b.sha256 == hashlib.sha256(data).hexdigest()
    assert a.size == b.size == len(data)
    assert store.path(a.rel_path).read_bytes() == data
    assert b.rel_path.startswith("outputs/") and a.rel_path != b.rel_path
    assert list(store.spool_dir.iterdir()) == []


def test_writes_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path)
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    store.write_atomic(b"x")
    assert len(calls) >= 2  # the file and its directory


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path)

    def chunks():
        yield b"partial"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        store.write_atomic(chunks())
    assert list(store.spool_dir.iterdir()) == []
    assert [p for p in (tmp_path / "instances").rglob("*") if p.is_file()] == []


def test_unknown_kind_and_escaping_paths_are_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(FileStoreError):
        store.write_atomic(b"x", kind="../etc")
    for bad in ("../x", "/etc/passwd", "instances/../../x", ""):
        with pytest.raises(FileStoreError):
            store.path(bad)


def test_remove_and_clean_spool(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    stored = store.write_atomic(b"x")
    store.remove(stored.rel_path)
    assert not store.path(stored.rel_path).exists()
    store.remove(stored.rel_path)  # missing is fine
    (store.spool_dir / "a.part").write_bytes(b"1")
    (store.spool_dir / "b.part").write_bytes(b"2")
    assert store.clean_spool() == 2
    assert store.clean_spool() == 0


def test_concurrent_writers_get_distinct_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    results: list[StoredFile] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(20):
            s = store.write_atomic(f"{i}-{j}".encode())
            with lock:
                results.append(s)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.rel_path for r in results}) == 120
    assert all(store.path(r.rel_path).read_bytes() for r in results)


def test_adopt_moves_and_hashes(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "data")
    src = tmp_path / "incoming.dcm"
    data = os.urandom(100_000)
    src.write_bytes(data)
    stored = store.adopt(src)
    assert not src.exists()
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert store.path(stored.rel_path).read_bytes() == data
    assert _mode(store.path(stored.rel_path)) == 0o600 and stored.rel_path.startswith("instances/")
    with pytest.raises(FileStoreError):
        store.adopt(src, kind="nope")
