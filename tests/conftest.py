"""Shared fixtures: a real PostgreSQL with thoth-storages' schema, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import TestPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[TestPostgres]:
    """The session's PostgreSQL (embedded unless THOTH_TEST_DATABASE_URL is set), with a migrated template."""
    server = TestPostgres()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres: TestPostgres) -> Iterator[str]:
    """URL of a fresh database at thoth-storages' head and the job's current state schema."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)
