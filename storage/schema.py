"""SQLAlchemy 2 schema: studies, series, instances, analyses, outputs, deliveries, audit.

Every state change of the node is a row here; the database is the durable queue.
Changes to this module need an Alembic revision in ``storage/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AnalysisState",
    "DeliveryState",
    "SeriesState",
    "Base",
    "Study",
    "Series",
    "Instance",
    "Analysis",
    "Output",
    "Delivery",
    "AuditEvent",
    "utcnow",
    "as_utc",
    "ANALYSIS_TRANSITIONS",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime | None) -> datetime | None:
    """A datetime read back from a ``TS`` column, aware: SQLite returns naive UTC values."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class SeriesState(StrEnum):
    RECEIVING = "receiving"  # instances arriving; MR waits for the stability window
    READY = "ready"  # unit(s) handed to routing
    DONE = "done"  # routed (analysis rows created or nothing to do)


class AnalysisState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


# The explicit state machine (any other transition is a bug).
ANALYSIS_TRANSITIONS: dict[AnalysisState, frozenset[AnalysisState]] = {
    AnalysisState.PENDING: frozenset({AnalysisState.RUNNING, AnalysisState.SKIPPED}),
    AnalysisState.RUNNING: frozenset(
        {AnalysisState.DONE, AnalysisState.FAILED, AnalysisState.SKIPPED, AnalysisState.PENDING}
    ),
    AnalysisState.DONE: frozenset(),
    AnalysisState.SKIPPED: frozenset(),
    AnalysisState.FAILED: frozenset({AnalysisState.PENDING}),  # manual retry
}


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def _enum(e: type[StrEnum]) -> Enum:
    return Enum(e, native_enum=False, length=16, values_callable=lambda x: [m.value for m in x])


TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    # Patient data is stored for the operator's CLI/dashboard; it is never logged.
    patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str | None] = mapped_column(String(324))
    study_date: Mapped[str | None] = mapped_column(String(8))
    study_description: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    series: Mapped[list[Series]] = relationship(back_populates="study")


class Series(Base):
    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    modality: Mapped[str | None] = mapped_column(String(16))
    series_description: Mapped[str | None] = mapped_column(String(64))
    series_number: Mapped[int | None] = mapped_column(Integer)
    manufacturer: Mapped[str | None] = mapped_column(String(64))
    manufacturer_model_name: Mapped[str | None] = mapped_column(String(64))
    station_name: Mapped[str | None] = mapped_column(String(16))
    calling_aet: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[SeriesState] = mapped_column(_enum(SeriesState), default=SeriesState.RECEIVING)
    first_received_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_received_at: Mapped[datetime] = mapped_column(TS, default=utcnow, index=True)
    ready_at: Mapped[datetime | None] = mapped_column(TS)

    study: Mapped[Study] = relationship(back_populates="series")
    instances: Mapped[list[Instance]] = relationship(back_populates="series")


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("sop_instance_uid", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    file_path: Mapped[str] = mapped_column(String(512))  # relative to data_dir
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    number_of_frames: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer)
    columns: Mapped[int | None] = mapped_column(Integer)
    instance_number: Mapped[int | None] = mapped_column(Integer)
    image_type: Mapped[str | None] = mapped_column(String(256))
    calling_aet: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column(TS)

    series: Mapped[Series] = relationship(back_populates="instances")


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (Index("ix_analyses_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_uid: Mapped[str] = mapped_column(String(64), unique=True)
    # (unit UIDs, analyzer, version, model hashes) digest: same key = same analysis
    analysis_key: Mapped[str | None] = mapped_column(String(64), index=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id"))  # US: one instance
    unit_kind: Mapped[str] = mapped_column(String(16))  # "instance" | "series"
    analyzer: Mapped[str] = mapped_column(String(64))
    analyzer_version: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[AnalysisState] = mapped_column(_enum(AnalysisState), default=AnalysisState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    result_json: Mapped[str | None] = mapped_column(Text)
    assessable: Mapped[bool | None] = mapped_column(Boolean)
    global_score: Mapped[float | None] = mapped_column(Float)
    rescan_recommended: Mapped[bool | None] = mapped_column(Boolean)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id"))
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TS)
    finished_at: Mapped[datetime | None] = mapped_column(TS)

    series: Mapped[Series] = relationship()
    outputs: Mapped[list[Output]] = relationship(back_populates="analysis")


class Output(Base):
    __tablename__ = "outputs"
    __table_args__ = (UniqueConstraint("analysis_id", "kind", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "sr" | "sc-cine" | "sc-summary" | "sc-mr"
    index: Mapped[int] = mapped_column(Integer, default=0)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_instance_uid: Mapped[str] = mapped_column(String(64))
    file_path: Mapped[str] = mapped_column(String(512))  # relative to data_dir
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    analysis: Mapped[Analysis] = relationship(back_populates="outputs")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="output")


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("output_id", "destination"),
        Index("ix_deliveries_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id"), index=True)
    destination: Mapped[str] = mapped_column(String(64))
    state: Mapped[DeliveryState] = mapped_column(_enum(DeliveryState), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)

    output: Mapped[Output] = relationship(back_populates="deliveries")


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(TS, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. "store.rejected", "instance.new_version"
    severity: Mapped[str] = mapped_column(String(16), default="info")
    calling_aet: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)  # DIMSE status returned, if any
    sop_instance_uid: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)  # no patient data
