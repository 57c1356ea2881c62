"""The one database transaction of a C-STORE: study/series upsert, instance row, versions.

Concurrent associations may deliver instances of one series at the same time. Study and series
rows are created with ``INSERT ... ON CONFLICT DO NOTHING`` and the series row is then locked
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers are serialised by
:class:`storage.db.Database`), so neither backend raises on a race; a lost race on the
(SOP Instance UID, version) unique key is retried once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.filestore import StoredFile
from storage.schema import AuditEvent, Instance, Series, SeriesState, Study, utcnow

from .header import InstanceHeader

__all__ = ["IngestOutcome", "record_instance", "record_audit"]

_SERIES_FIELDS = (
    "modality",
    "series_description",
    "series_number",
    "manufacturer",
    "manufacturer_model_name",
    "station_name",
)
_STUDY_FIELDS = ("patient_id", "patient_name", "study_date", "study_description")


@dataclass(frozen=True)
class IngestOutcome:
    """Result of :func:`record_instance`.

    Attributes
    ----------
    instance_id : int
        Row id of the current instance (the existing one for a duplicate).
    version : int
        Its version (1 for the first arrival of a SOP Instance UID).
    duplicate : bool
        True when the same content was already current: nothing was changed.
    """

    instance_id: int
    version: int
    duplicate: bool


def _insert_ignore(session: Session, model: type[Any], key: str, values: dict[str, Any]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))


def _fill(row: Any, header: InstanceHeader, fields: tuple[str, ...]) -> None:
    """Keep the first non-empty value of each descriptive attribute."""
    for name in fields:
        value = getattr(header, name)
        if value is not None and getattr(row, name) is None:
            setattr(row, name, value)


def _upsert_series(session: Session, header: InstanceHeader, calling_aet: str | None) -> Series:
    now = utcnow()
    _insert_ignore(
        session,
        Study,
        "study_instance_uid",
        {"study_instance_uid": header.study_instance_uid, **{f: getattr(header, f) for f in _STUDY_FIELDS}},
    )
    study = session.scalars(select(Study).where(Study.study_instance_uid == header.study_instance_uid)).one()
    _fill(study, header, _STUDY_FIELDS)
    _insert_ignore(
        session,
        Series,
        "series_instance_uid",
        {
            "series_instance_uid": header.series_instance_uid,
            "study_id": study.id,
            "calling_aet": calling_aet,
            "state": SeriesState.RECEIVING,
            "first_received_at": now,
            "last_received_at": now,
            **{f: getattr(header, f) for f in _SERIES_FIELDS},
        },
    )
    series = session.scalars(
        select(Series).where(Series.series_instance_uid == header.series_instance_uid).with_for_update()
    ).one()
    _fill(series, header, _SERIES_FIELDS)
    if series.calling_aet is None:
        series.calling_aet = calling_aet
    # Every arrival re-opens the series: an MR series analysed already is analysed again.
    series.state = SeriesState.RECEIVING
    series.last_received_at = now
    return series


def _record(
    session: Session, header: InstanceHeader, stored: StoredFile, calling_aet: str | None
) -> IngestOutcome:
    uid = header.sop_instance_uid
    current = session.scalars(
        select(Instance)
        .where(Instance.sop_instance_uid == uid, Instance.is_current.is_(True))
        .with_for_update()
    ).first()
    if current is not None and current.sha256 == stored.sha256:
        return IngestOutcome(instance_id=current.id, version=current.version, duplicate=True)
    series = _upsert_series(session, header, calling_aet)
    version = 1
    if current is not None:
        latest = session.scalar(select(func.max(Instance.version)).where(Instance.sop_instance_uid == uid))
        version = int(latest or 0) + 1
        session.execute(update(Instance).where(Instance.sop_instance_uid == uid).values(is_current=False))
        session.add(
            AuditEvent(
                kind="instance.new_version",
                severity="info",
                calling_aet=calling_aet,
                status=0x0000,
                sop_instance_uid=uid,
                message=f"instance received again with different content; stored as version {version}",
            )
        )
    instance = Instance(
        series_id=series.id,
        sop_instance_uid=uid,
        sop_class_uid=header.sop_class_uid,
        version=version,
        is_current=True,
        file_path=stored.rel_path,
        size=stored.size,
        sha256=stored.sha256,
        transfer_syntax_uid=header.transfer_syntax_uid,
        number_of_frames=header.number_of_frames,
        rows=header.rows,
        columns=header.columns,
        instance_number=header.instance_number,
        image_type=header.image_type,
        calling_aet=calling_aet,
        received_at=utcnow(),
    )
    session.add(instance)
    session.flush()
    return IngestOutcome(instance_id=instance.id, version=version, duplicate=False)


def record_instance(
    db: Database, header: InstanceHeader, stored: StoredFile, calling_aet: str | None
) -> IngestOutcome:
    """Record a stored instance in one transaction (committed when this returns).

    Parameters
    ----------
    db : storage.db.Database
    header : InstanceHeader
        Parsed header of the received data set.
    stored : storage.filestore.StoredFile
        The file already fsynced into the store.
    calling_aet : str or None
        The sender's AE title.

    Returns
    -------
    IngestOutcome
        For a duplicate (same SOP Instance UID, same SHA-256 as the current version) nothing
        changed and the caller removes its new copy of the file.
    """
    for attempt in (1, 2):
        try:
            with db.session() as session:
                return _record(session, header, stored, calling_aet)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def record_audit(
    db: Database,
    *,
    kind: str,
    message: str,
    severity: str = "warning",
    calling_aet: str | None = None,
    status: int | None = None,
    sop_instance_uid: str | None = None,
) -> None:
    """Insert one audit row in its own transaction. ``message`` must hold no patient data."""
    with db.session() as session:
        session.add(
            AuditEvent(
                kind=kind,
                severity=severity,
                calling_aet=calling_aet,
                status=status,
                sop_instance_uid=sop_instance_uid,
                message=message,
            )
        )
