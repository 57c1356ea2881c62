"""Database engine, sessions and migrations (SQLite by default, PostgreSQL by URL).

SQLite is tuned for a node that must never lose an acknowledged instance and never answer
"database is locked": WAL journal with ``synchronous=FULL``, a 30 s busy timeout, foreign keys
on, every transaction opened with ``BEGIN IMMEDIATE`` (so a read-then-write transaction cannot
fail on a stale snapshot when another process wrote meanwhile) and, inside one process, sessions
serialised by a lock per database file held for the whole session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = ["Database", "open_database", "MIGRATIONS_DIR", "BUSY_TIMEOUT_S"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 30.0
_PG_MIGRATION_LOCK = 0x43514131  # "CQA1": advisory lock id serialising concurrent migrate() calls

_locks_guard = threading.Lock()
_sqlite_locks: dict[str, threading.RLock] = {}


def _sqlite_lock(database: str) -> threading.RLock:
    """The process-wide write lock of one SQLite database file."""
    key = str(Path(database).resolve()) if database and database != ":memory:" else database
    with _locks_guard:
        return _sqlite_locks.setdefault(key, threading.RLock())


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below open transactions (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")  # WAL + FULL: a commit survives power loss
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private(database: str) -> None:
    """Create a missing SQLite file with mode 0600 (SQLite gives its -wal/-shm files the same mode)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except (FileExistsError, FileNotFoundError):  # exists already, or no directory (SQLite reports it)
        pass


class Database:
    """One database: engine, session factory, migrations.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, ``sqlite:///path`` or ``postgresql+psycopg://user:pw@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            _create_private(self.url.database or "")
            self.engine: Engine = create_engine(
                self.url,
                connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
                hide_parameters=True,  # error messages would otherwise carry UIDs / patient data
            )
            _configure_sqlite(self.engine)
            self._lock: Any = _sqlite_lock(self.url.database or "")
        else:
            self.engine = create_engine(
                self.url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
            )
            self._lock = None
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on normal exit and rolls back on an exception.

        On SQLite the process-wide write lock of the database is held for the whole session.
        Never share the yielded session across threads.
        """
        with self._lock if self._lock is not None else nullcontext():
            session = self._factory()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (``storage/migrations``).

        Safe to call from several processes at once: SQLite serialises on ``BEGIN IMMEDIATE``,
        PostgreSQL on a transaction-scoped advisory lock.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self._lock if self._lock is not None else nullcontext(), self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown and in forked children)."""
        self.engine.dispose()


def open_database(settings: Settings) -> Database:
    """Open the configured database, creating ``data_dir`` and migrating to head.

    Parameters
    ----------
    settings : config.settings.Settings
        Uses ``storage.data_dir`` and ``storage.effective_database_url()``.
    """
    data_dir = Path(settings.storage.data_dir)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = Database(settings.storage.effective_database_url())
    db.migrate()
    return db
