"""Alembic environment: runs on the connection handed over by :meth:`storage.db.Database.migrate`.

No ``alembic.ini`` and no logging configuration: the node configures logging in one place.
A URL from the Alembic config is used when no connection is given (``alembic -x`` style use).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # noqa: ANN001 — a sqlalchemy Connection
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER goes through batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
