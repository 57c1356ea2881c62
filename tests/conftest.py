"""Shared fixtures. Area-specific fixtures live in each folder's own conftest.py.

The tests use real tools (DCMTK, dicom3tools, PostgreSQL, Orthanc, Chromium); `make test`
installs and starts them via scripts/test-services, so a missing one is a failure, not a skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_URL_ENV = "CARDIAC_QA_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.fail(f"{PG_URL_ENV} is not set: run the tests with `make test` (it starts PostgreSQL)")
    import sqlalchemy as sa

    name = f"cqa_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """Each storage/job test runs once against SQLite and once against PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'node.sqlite3'}"
    return request.getfixturevalue("pg_url")
