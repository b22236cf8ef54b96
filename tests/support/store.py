"""Helpers of the database-layer tests: plain SQL beside the Store under test, and a registered index."""

from __future__ import annotations

import psycopg2

from thoth.package_releases.config import IndexConfig
from thoth.package_releases.store import Store
from thoth.package_releases.values import IndexRow

INDEX = "https://pypi.org/simple"


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run one query on its own connection and return its rows."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def execute(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    """Run one statement on its own connection and commit it."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def registered_index(store: Store, url: str = INDEX) -> IndexRow:
    """Register an index through the store and return its row."""
    store.graph.register_indexes([IndexConfig(url=url)])
    (row,) = [r for r in store.graph.indexes() if r.url == url]
    return row
