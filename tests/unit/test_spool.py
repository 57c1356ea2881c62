"""``dicom_node.scp.spool.SpoolWriter``: the file a streamed data set is written to."""

from __future__ import annotations

import gc
import hashlib
import os
from pathlib import Path

import pytest

from dicom_node.scp import spool


def _pieces(total: int, size: int) -> list[bytes]:
    data = os.urandom(total)
    return [data[i : i + size] for i in range(0, total, size)]


@pytest.mark.parametrize("total", [1000, 6 * 1024 * 1024 + 17], ids=["inline_hash", "threaded_hash"])
def test_writer_hashes_what_it_writes(tmp_path: Path, total: int) -> None:
    pieces = _pieces(total, 65536 + 3)
    writer = spool.SpoolWriter(tmp_path)
    assert spool.claim(writer.name) is writer
    for piece in pieces:
        assert writer.write(piece) == len(piece)
        writer.file.flush()
    sha256 = writer.finish()
    data = b"".join(pieces)
    assert sha256 == hashlib.sha256(data).hexdigest() and writer.size == len(data)
    assert writer.path.read_bytes() == data
    assert writer.path.stat().st_mode & 0o777 == 0o600
    writer.kept()
    writer.close()  # what pynetdicom does after the handler: harmless
    del writer
    gc.collect()
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [data]  # kept files survive the writer


def test_an_abandoned_writer_removes_its_partial_file(tmp_path: Path) -> None:
    """An aborted association drops the message (never closed): the writer's file goes with it."""
    writer = spool.SpoolWriter(tmp_path)
    writer.write(b"\0" * (5 * 1024 * 1024))  # past the threshold: a hashing thread is running
    writer.write(b"\0" * 1024)
    name, hasher = writer.name, writer._hasher
    assert hasher is not None and hasher.is_alive()
    del writer
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and spool.claim(name) is None
    hasher.join(5)
    assert not hasher.is_alive()  # the finalizer stopped the hashing thread too


def test_a_write_error_is_kept_not_raised(tmp_path: Path) -> None:
    writer = spool.SpoolWriter(tmp_path)
    writer.write(b"x" * 100)
    os.close(writer._state["fd"])  # the descriptor fails under it, as a full disk would
    assert writer.write(b"y" * 100) == 100  # pynetdicom's decoding goes on
    assert writer.write(b"z" * 100) == 100  # and the rest is discarded
    assert isinstance(writer.error, OSError)
    assert list(tmp_path.iterdir()) == []  # the space is given back at once
    with pytest.raises(OSError):
        writer.finish()


def test_only_registered_aes_get_a_spool_writer(tmp_path: Path) -> None:
    """Other threads and AEs get pynetdicom's own temporary file."""
    made = spool._named_temporary_file(delete=False, mode="wb", suffix=".dcm")
    try:
        assert not isinstance(made, spool.SpoolWriter)
    finally:
        made.close()
        os.unlink(made.name)
