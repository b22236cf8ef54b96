"""Fixtures of the database-layer tests: a Store on the test's fresh database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from thoth.package_releases.store import Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A Store connected to the test's fresh database (at thoth-storages' head, with the state schema)."""
    s = Store(database_url)
    yield s
    s.close()
