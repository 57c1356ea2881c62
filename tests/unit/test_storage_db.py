"""storage.db: migrations create exactly the ORM schema; sessions; SQLite tuning; concurrency."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from config.settings import Settings
from storage.db import Database, open_database
from storage.schema import AuditEvent, Base, Study


@pytest.fixture
def db(db_url: str):  # noqa: ANN201
    database = Database(db_url)
    database.migrate()
    yield database
    database.dispose()


def test_migration_matches_schema_and_is_idempotent(db: Database) -> None:
    db.migrate()  # second run is a no-op
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_session_commits_and_rolls_back(db: Database) -> None:
    with db.session() as s:
        s.add(AuditEvent(kind="test", message="kept"))
    with pytest.raises(RuntimeError), db.session() as s:
        s.add(AuditEvent(kind="test", message="dropped"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert [e.message for e in s.query(AuditEvent)] == ["kept"]


def test_unique_constraint_is_enforced(db: Database) -> None:
    with db.session() as s:
        s.add(Study(study_instance_uid="1.2.3"))
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(Study(study_instance_uid="1.2.3"))


def test_concurrent_writers_never_see_locked(db: Database) -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(15):
                with db.session() as s:
                    s.add(AuditEvent(kind="load", message=f"{i}-{j}"))
                    s.flush()
                    s.query(AuditEvent).count()
        except BaseException as exc:  # noqa: BLE001 — collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        assert s.query(AuditEvent).count() == 120


def test_sqlite_pragmas(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    db.dispose()


def test_sqlite_foreign_keys_enforced(tmp_path: Path) -> None:
    from storage.schema import Series

    db = Database(f"sqlite:///{tmp_path / 'fk.sqlite3'}")
    db.migrate()
    with pytest.raises(sa.exc.IntegrityError), db.session() as s:
        s.add(Series(study_id=999, series_instance_uid="1.2"))
    db.dispose()


def test_open_database_creates_data_dir(tmp_path: Path) -> None:
    settings = Settings(storage={"data_dir": str(tmp_path / "new" / "var")})
    db = open_database(settings)
    try:
        assert (tmp_path / "new" / "var" / "cardiac_qa.sqlite3").is_file()
        with db.session() as s:
            assert s.query(AuditEvent).count() == 0
    finally:
        db.dispose()


def _writer_process(url: str, tag: str) -> None:
    db = Database(url)
    for i in range(25):
        with db.session() as s:
            n = s.query(AuditEvent).count()  # read, then write: BEGIN IMMEDIATE keeps this safe
            s.add(AuditEvent(kind="proc", message=f"{tag}-{i}-{n}"))
    db.dispose()


def test_sqlite_writers_in_several_processes(tmp_path: Path) -> None:
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'mp.sqlite3'}"
    Database(url).migrate()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer_process, args=(url, f"p{i}")) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    db = Database(url)
    with db.session() as s:
        assert s.query(AuditEvent).count() == 75
    db.dispose()
