"""The knowledge graph of a test, read and seeded with plain SQL (the job's own graph code is what is under test).

Shared by the e2e and the fault tests: every call opens its own connection in autocommit mode, so what it reads
is the database as it is now (``pg_stat_activity`` included) and what it writes is committed at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg2

STATE = "thoth_package_releases"  # the job's own schema: run history, page state, outbox
JOB_APPLICATION = "thoth-package-releases"  # the job's libpq application_name


class KnowledgeGraph:
    """Direct SQL access to a test database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (none for a statement that returns none)."""
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    execute = query  # for statements run for what they change rather than what they return

    # -- seeding ---------------------------------------------------------------------------------------------

    def add_index(
        self, url: str, *, enabled: bool = True, only_if_package_seen: bool = True, verify_ssl: bool = True
    ) -> int:
        (row,) = self.query(
            "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (url, verify_ssl, enabled, only_if_package_seen),
        )
        return int(row[0])

    def add_entity(self, name: str, version: str, index_id: int | None = None) -> int:
        (row,) = self.query(
            "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
            " VALUES (%s, %s, %s) RETURNING id",
            (name, version, index_id),
        )
        return int(row[0])

    def add_rule(self, name: str, version_range: str | None, index_id: int | None = None) -> int:
        (row,) = self.query(
            "INSERT INTO python_package_version_entity_rule (package_name, version_range, python_package_index_id,"
            " description) VALUES (%s, %s, %s, 'e2e test') RETURNING id",
            (name, version_range, index_id),
        )
        return int(row[0])

    # -- thoth-storages' tables ------------------------------------------------------------------------------

    def indexes(self) -> list[tuple[str, bool, bool]]:
        """(url, enabled, only_if_package_seen) of every registered index, by id."""
        return [
            (url, bool(enabled), bool(seen))
            for url, enabled, seen in self.query(
                "SELECT url, enabled, only_if_package_seen FROM python_package_index ORDER BY id"
            )
        ]

    def index_urls(self) -> list[str]:
        """The URL of every registered index, by id."""
        return [url for url, _, _ in self.indexes()]

    def entities(self) -> list[tuple[str, str, str | None]]:
        """(name, version, index URL) of every version entity, sorted."""
        return self.query(
            "SELECT e.package_name, e.package_version, i.url FROM python_package_version_entity e"
            " LEFT JOIN python_package_index i ON i.id = e.python_package_index_id ORDER BY 1, 2, 3"
        )

    def rows(self, index_url: str) -> list[tuple[str, str]]:
        """(name, version) of every version entity on an index, duplicates kept."""
        return [
            (name, version)
            for name, version in self.query(
                "SELECT e.package_name, e.package_version FROM python_package_version_entity e"
                " JOIN python_package_index i ON i.id = e.python_package_index_id WHERE i.url = %s ORDER BY 1, 2",
                (index_url,),
            )
        ]

    def rule_associations(self) -> list[tuple[str, str, int]]:
        """(name, version, rule id) of every entity-rule association, sorted."""
        return self.query(
            "SELECT e.package_name, e.package_version, a.python_package_version_entity_rule_id"
            " FROM python_package_version_entity_rules_association a"
            " JOIN python_package_version_entity e ON e.id = a.python_package_version_entity_id ORDER BY 1, 2, 3"
        )

    def count(self, table: str) -> int:
        """The number of rows in a table (a trusted, schema-qualified name)."""
        ((rows,),) = self.query(f"SELECT count(*) FROM {table}")
        return int(rows)

    def table_exists(self, table: str) -> bool:
        ((exists,),) = self.query("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(exists)

    # -- the job's own state ---------------------------------------------------------------------------------

    def outbox(self) -> list[tuple[str, str, str, int]]:
        """(name, version, status, attempts) of every queued notification."""
        return self.query(f"SELECT package_name, package_version, status, attempts FROM {STATE}.outbox ORDER BY 1, 2")

    def outbox_with_errors(self) -> list[tuple[str, str, str, int, str | None]]:
        """(name, version, status, attempts, last error) of every outbox entry, sorted."""
        return self.query(
            f"SELECT package_name, package_version, status, attempts, last_error FROM {STATE}.outbox ORDER BY 1, 2, 3"
        )

    def stored_text(self) -> str:
        """Everything the job stored about notifications and runs, as text (to look for secrets in)."""
        rows = self.query(f"SELECT trigger_key, coalesce(last_error, '') FROM {STATE}.outbox")
        rows += self.query(f"SELECT summary::text, '' FROM {STATE}.run")
        return "\n".join(" ".join(row) for row in rows)

    # -- the job's database sessions -------------------------------------------------------------------------

    def job_backends(self) -> list[int]:
        return [
            pid
            for (pid,) in self.query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                (JOB_APPLICATION,),
            )
        ]

    def terminate_job_backends(self) -> int:
        """Kill the job's database sessions, as a failover or a DBA would."""
        rows = self.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (JOB_APPLICATION,),
        )
        return sum(1 for (done,) in rows if done)

    def job_holds_advisory_lock(self) -> bool:
        rows = self.query(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = %s"
            " AND a.datname = current_database()",
            (JOB_APPLICATION,),
        )
        return bool(rows[0][0])

    def job_lock_waiters(self) -> int:
        """How many of the job's connections to this database are waiting for a lock."""
        ((count,),) = self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s AND wait_event_type = 'Lock'",
            (JOB_APPLICATION,),
        )
        return int(count)
