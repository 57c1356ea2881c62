"""Property tests: the one status-mapping wrapper of the C-STORE handler (PS3.4 B.2.3)."""

from __future__ import annotations

import atexit
import errno
import shutil
import struct
import tempfile
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy.exc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.errors import InvalidDicomError

from dicom_node.scp import (
    InvalidHeader,
    OutOfResources,
    Phase,
    PixelBudgetExceeded,
    StoreHandler,
    StoreStatus,
    describe,
    status_for,
)
from storage.db import Database
from storage.filestore import FileStore
from storage.schema import AuditEvent, Instance
from tests.support.dicom_files import PHI_NAME, us_multiframe, write_raw_part10

SECRET = PHI_NAME  # stands for any value a foreign exception message may quote

FOREIGN = [
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    EOFError,
    RuntimeError,
    AttributeError,
    NotImplementedError,
    UnicodeDecodeError,
    struct.error,
    InvalidDicomError,
]
DB_ERRORS = [sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, sqlalchemy.exc.DBAPIError]


def _make(kind: type[BaseException]) -> BaseException:
    if kind is UnicodeDecodeError:
        return UnicodeDecodeError("ascii", SECRET.encode(), 0, 1, SECRET)
    if issubclass(kind, sqlalchemy.exc.DBAPIError):
        return kind(SECRET, {}, Exception(SECRET))
    return kind(SECRET)


exceptions = st.one_of(
    st.sampled_from(FOREIGN).map(_make),
    st.sampled_from(DB_ERRORS).map(_make),
    st.sampled_from([errno.ENOSPC, errno.EIO, errno.EACCES, errno.EDQUOT]).map(lambda e: OSError(e, SECRET)),
    st.just(MemoryError()),
    st.sampled_from([InvalidHeader, OutOfResources, PixelBudgetExceeded]).map(lambda k: k("ours")),
)
phases = st.sampled_from([p for p in Phase if p is not Phase.DONE])


@given(exc=exceptions, phase=phases)
def test_status_is_always_a_failure_of_the_documented_kind(exc: BaseException, phase: Phase) -> None:
    status = status_for(exc, phase)
    assert status in (StoreStatus.CANNOT_UNDERSTAND, StoreStatus.OUT_OF_RESOURCES, StoreStatus.UNEXPECTED)
    if isinstance(exc, InvalidHeader):
        assert status == StoreStatus.CANNOT_UNDERSTAND
    elif isinstance(exc, OutOfResources | MemoryError):
        assert status == StoreStatus.OUT_OF_RESOURCES
    elif phase is Phase.PARSE:
        assert status == StoreStatus.CANNOT_UNDERSTAND  # unparseable header: nothing stored
    elif isinstance(exc, OSError | sqlalchemy.exc.SQLAlchemyError):
        assert status == StoreStatus.OUT_OF_RESOURCES  # disk or database
    else:
        assert status == StoreStatus.UNEXPECTED


@given(exc=exceptions, phase=phases)
def test_description_never_repeats_foreign_messages(exc: BaseException, phase: Phase) -> None:
    text = describe(exc, phase)
    assert SECRET not in text and text
    if not isinstance(exc, InvalidHeader | OutOfResources):
        assert type(exc).__name__ in text


# -- the handler end to end on malformed input (no network) --------------------------------

_tmp = Path(tempfile.mkdtemp(prefix="cqa-prop-"))
_db = Database(f"sqlite:///{_tmp / 'db.sqlite3'}")
_db.migrate()
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
atexit.register(_db.dispose)
_store = FileStore(_tmp / "data")
_handler = StoreHandler(_db, _store, max_pixels=50_000_000)


def _event(data: bytes) -> SimpleNamespace:
    return SimpleNamespace(
        encoded_dataset=lambda: data,
        assoc=SimpleNamespace(requestor=SimpleNamespace(ae_title="PROPTEST")),
    )


def _valid() -> bytes:
    buf = BytesIO()
    us_multiframe(frames=1, rows=8, columns=8).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


VALID = _valid()
META_END = 132 + 12 + int.from_bytes(VALID[140:144], "little")  # preamble + group length element


def _counts() -> tuple[int, int]:
    with _db.session() as s:
        return s.query(Instance).count(), s.query(AuditEvent).count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=400))
def test_random_body_is_refused_with_an_audit_row(body: bytes) -> None:
    path = write_raw_part10(_tmp / "raw.dcm", body)
    data = path.read_bytes()
    instances, audits = _counts()
    status = _handler(_event(data))
    assert status in (StoreStatus.CANNOT_UNDERSTAND, StoreStatus.OUT_OF_RESOURCES)
    assert _counts() == (instances, audits + 1)
    assert list(_store.spool_dir.iterdir()) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0, max_value=len(VALID) - 1), flip=st.integers(0, 255))
def test_truncated_or_corrupted_instance_never_raises(cut: int, flip: int) -> None:
    data = bytearray(VALID[:cut] if flip % 2 else VALID)
    if not flip % 2 and META_END <= cut < len(data):
        data[cut] ^= flip | 1
    status = _handler(_event(bytes(data)))
    assert status in {s.value for s in StoreStatus}
    if flip % 2:  # cut short anywhere: never acknowledged as stored
        assert status != StoreStatus.SUCCESS
    assert list(_store.spool_dir.iterdir()) == []
    if status != StoreStatus.SUCCESS:
        with _db.session() as s:
            assert s.query(AuditEvent).order_by(AuditEvent.id.desc()).first().status == status
