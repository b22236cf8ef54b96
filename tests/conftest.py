"""Shared fixtures: a real PostgreSQL with thoth-storages' schema, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresForTests


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    """The session's PostgreSQL (embedded unless THOTH_TEST_DATABASE_URL is set), with a migrated template."""
    server = PostgresForTests()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: PostgresForTests) -> Iterator[str]:
    """URL of a fresh database at thoth-storages' head and the job's current state schema."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def storages_database_url(postgres: PostgresForTests) -> Iterator[str]:
    """URL of a fresh database migrated by thoth-storages' own alembic migrations only (no state schema)."""
    url = postgres.create_storages_database()
    yield url
    postgres.drop_database(url)
