"""Initial schema: exactly the tables of ``storage/schema.py`` at version 0.1.0.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Enums are stored as VARCHAR(16) (``native_enum=False``) so the same revision runs on SQLite and
PostgreSQL without CREATE TYPE.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("calling_aet", sa.String(length=16), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"], unique=False)

    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("patient_name", sa.String(length=324), nullable=True),
        sa.Column("study_date", sa.String(length=8), nullable=True),
        sa.Column("study_description", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_instance_uid"),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("series_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("series_description", sa.String(length=64), nullable=True),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("manufacturer", sa.String(length=64), nullable=True),
        sa.Column("manufacturer_model_name", sa.String(length=64), nullable=True),
        sa.Column("station_name", sa.String(length=16), nullable=True),
        sa.Column("calling_aet", sa.String(length=16), nullable=True),
        sa.Column(
            "state",
            sa.Enum("receiving", "ready", "done", name="seriesstate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("first_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("series_instance_uid"),
    )
    op.create_index("ix_series_last_received_at", "series", ["last_received_at"], unique=False)
    op.create_index("ix_series_study_id", "series", ["study_id"], unique=False)

    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("file_path", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(length=64), nullable=False),
        sa.Column("number_of_frames", sa.Integer(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("columns", sa.Integer(), nullable=True),
        sa.Column("instance_number", sa.Integer(), nullable=True),
        sa.Column("image_type", sa.String(length=256), nullable=True),
        sa.Column("calling_aet", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sop_instance_uid", "version"),
    )
    op.create_index("ix_instances_series_id", "instances", ["series_id"], unique=False)
    op.create_index("ix_instances_sop_instance_uid", "instances", ["sop_instance_uid"], unique=False)

    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_uid", sa.String(length=64), nullable=False),
        sa.Column("analysis_key", sa.String(length=64), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("unit_kind", sa.String(length=16), nullable=False),
        sa.Column("analyzer", sa.String(length=64), nullable=False),
        sa.Column("analyzer_version", sa.String(length=32), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "running",
                "done",
                "skipped",
                "failed",
                name="analysisstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("assessable", sa.Boolean(), nullable=True),
        sa.Column("global_score", sa.Float(), nullable=True),
        sa.Column("rescan_recommended", sa.Boolean(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["series.id"],
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["analyses.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("analysis_uid"),
    )
    op.create_index("ix_analyses_analysis_key", "analyses", ["analysis_key"], unique=False)
    op.create_index("ix_analyses_series_id", "analyses", ["series_id"], unique=False)
    op.create_index("ix_analyses_state_created", "analyses", ["state", "created_at"], unique=False)

    op.create_table(
        "outputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("series_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("file_path", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("analysis_id", "kind", "index"),
        sa.UniqueConstraint("sop_instance_uid"),
    )
    op.create_index("ix_outputs_analysis_id", "outputs", ["analysis_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum("pending", "delivered", "failed", name="deliverystate", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"],
            ["outputs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("output_id", "destination"),
    )
    op.create_index("ix_deliveries_output_id", "deliveries", ["output_id"], unique=False)
    op.create_index("ix_deliveries_state_next", "deliveries", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("outputs")
    op.drop_table("analyses")
    op.drop_table("instances")
    op.drop_table("series")
    op.drop_table("studies")
    op.drop_table("audit_events")
