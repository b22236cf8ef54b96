"""The knowledge graph: schema checks, indexes, known names and versions, bulk recording of releases, job state."""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.sql

from thoth.package_releases import schema
from thoth.package_releases.config import IndexConfig
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.releases import matching_rules, missing_releases, shard_of
from thoth.package_releases.values import (
    ChunkOutcome,
    EntityRule,
    IndexRow,
    Notifier,
    OutboxEntry,
    PageValidators,
    Release,
)

_LOGGER = logging.getLogger(__name__)

_STATE = schema.STATE_SCHEMA
_LOCK_NAMESPACE = zlib.crc32(b"thoth-package-releases-job") & 0x7FFFFFFF


class DatabaseError(Exception):
    """The knowledge graph cannot be reached or used; the message names host and database, never a password."""


class ConnectionLost(DatabaseError):
    """The connection broke in the middle of the run; the transaction in flight was rolled back."""


def describe_url(url: str) -> str:
    """Return a human description of a database URL (host and database), safe to log."""
    try:
        parsed = psycopg2.extensions.parse_dsn(to_dsn(url))
    except psycopg2.Error:
        return f"database {mask_url(url)!r}"
    host = parsed.get("host", "localhost")
    port = parsed.get("port")
    database = parsed.get("dbname", parsed.get("user", "postgres"))
    where = f"{host}:{port}" if port else host
    return f"database {database!r} on {where}"


def to_dsn(url: str) -> str:
    """Turn an SQLAlchemy-style URL (``postgresql+psycopg2://``) into one psycopg2 accepts."""
    if url.startswith("postgresql+psycopg2://"):
        return "postgresql://" + url[len("postgresql+psycopg2://") :]
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def to_sqlalchemy_url(url: str) -> str:
    """Turn a PostgreSQL URL into the SQLAlchemy form alembic needs."""
    return "postgresql+psycopg2://" + to_dsn(url)[len("postgresql://") :]


class Graph:
    """A connection to the knowledge graph, with the queries and bulk writes the job needs."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self.url = url
        self.description = describe_url(url)
        self._connect_timeout = connect_timeout
        self._conn: psycopg2.extensions.connection | None = None
        self._lock_key: int | None = None
        self.connect()

    # -- connection ---------------------------------------------------------------------------------------

    def connect(self) -> None:
        """(Re)open the connection, and take again the advisory lock this object held, if any."""
        self.close()
        try:
            self._conn = psycopg2.connect(
                to_dsn(self.url), connect_timeout=self._connect_timeout, application_name="thoth-package-releases"
            )
        except psycopg2.Error as error:
            reason = mask_text(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            raise DatabaseError(f"cannot connect to {self.description}: {reason}") from None
        self._conn.autocommit = False
        if self._lock_key is not None and not self._try_lock(self._lock_key):
            raise DatabaseError(f"lost the run lock on {self.description} to another run")

    def close(self) -> None:
        """Close the connection (releasing its advisory lock)."""
        if self._conn is not None:
            with suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None

    @property
    def conn(self) -> psycopg2.extensions.connection:
        """The open connection."""
        if self._conn is None or self._conn.closed:
            raise ConnectionLost(f"connection to {self.description} is closed")
        return self._conn

    def transaction(self) -> AbstractContextManager[psycopg2.extensions.cursor]:
        """Run a block in one transaction: commit on success, roll back on any error."""
        return self._cursor(commit=True)

    def read_only(self) -> AbstractContextManager[psycopg2.extensions.cursor]:
        """Run a block that only reads, rolling back afterwards so nothing is written even by mistake."""
        return self._cursor(commit=False)

    @contextmanager
    def _cursor(self, *, commit: bool) -> Iterator[psycopg2.extensions.cursor]:
        conn = self.conn
        try:
            with conn.cursor() as cursor:
                yield cursor
            if commit:
                conn.commit()
            else:
                self._rollback_quietly()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            self._rollback_quietly()
            raise ConnectionLost(f"lost connection to {self.description}: {_first_line(error)}") from None
        except BaseException:
            self._rollback_quietly()
            raise

    def _rollback_quietly(self) -> None:
        if self._conn is not None and not self._conn.closed:
            with suppress(psycopg2.Error):
                self._conn.rollback()

    # -- schema -------------------------------------------------------------------------------------------

    def knowledge_graph_revision(self) -> str | None:
        """Return the alembic revision of the knowledge graph, or None when it has no schema."""
        with self.read_only() as cursor:
            cursor.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
            (exists,) = cursor.fetchone()
            if not exists:
                return None
            cursor.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
            return str(row[0]) if row else None

    def ensure_schema(self, *, migrate: bool) -> None:
        """Check (with ``migrate``: bring) the knowledge graph at thoth-storages' head and the state schema current."""
        head = schema.head_revision()
        current = self.knowledge_graph_revision()
        if current != head:
            if not migrate:
                state = "has no thoth-storages schema" if current is None else f"is at revision {current}"
                raise schema.SchemaError(
                    f"{self.description} {state}, the job needs thoth-storages revision {head}; "
                    "run with --init-schema to migrate it"
                )
            self.close()  # alembic works on its own connection; don't hold ours open meanwhile
            schema.upgrade_knowledge_graph(to_sqlalchemy_url(self.url))
            self.connect()
        self.ensure_state_schema(migrate=migrate)

    def state_schema_version(self) -> int:
        """Return the version of the job's own schema (0 when absent)."""
        with self.read_only() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{_STATE}.schema_version",))
            (exists,) = cursor.fetchone()
            if not exists:
                return 0
            cursor.execute(f"SELECT max(version) FROM {_STATE}.schema_version")
            (version,) = cursor.fetchone()
            return int(version or 0)

    def ensure_state_schema(self, *, migrate: bool) -> None:
        """Apply the job's own pending schema migrations (serialized between concurrent runs)."""
        wanted = len(schema.STATE_MIGRATIONS)
        if self.state_schema_version() >= wanted:
            return
        if not migrate:
            raise schema.SchemaError(
                f"{self.description} lacks the job's state schema {_STATE!r} (version {wanted}); "
                "run with --init-schema to create it"
            )
        with self.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_NAMESPACE,))
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_STATE}")
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {_STATE}.schema_version (version INTEGER PRIMARY KEY)")
            cursor.execute(f"SELECT coalesce(max(version), 0) FROM {_STATE}.schema_version")
            (current,) = cursor.fetchone()
            for version in range(int(current) + 1, wanted + 1):
                _LOGGER.info("Migrating the job's state schema to version %d", version)
                cursor.execute(schema.STATE_MIGRATIONS[version - 1])
                cursor.execute(f"INSERT INTO {_STATE}.schema_version (version) VALUES (%s)", (version,))

    # -- run lock -----------------------------------------------------------------------------------------

    def try_lock(self, shard_index: int = 0, shard_count: int = 1, *, scope: str = "scan") -> bool:
        """Take the session advisory lock of this shard and scope; False when another run holds it.

        Scopes keep a cheap feed-only run from being locked out by a long full scan; overlapping work is
        still safe (inserts and queued notifications are idempotent), the lock only avoids doing it twice.
        """
        key = zlib.crc32(f"{scope}:{shard_index}/{shard_count}".encode()) & 0x7FFFFFFF
        if self._try_lock(key):
            self._lock_key = key
            return True
        return False

    def _try_lock(self, key: int) -> bool:
        conn = self.conn
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, key))
            (locked,) = cursor.fetchone()
        conn.commit()
        return bool(locked)

    # -- indexes and names ----------------------------------------------------------------------------------

    def register_indexes(self, indexes: Iterable[IndexConfig]) -> list[str]:
        """Insert configured indexes that the graph lacks; existing rows are left alone. Returns the new URLs."""
        added: list[str] = []
        with self.transaction() as cursor:
            for index in indexes:
                cursor.execute(
                    "INSERT INTO python_package_index"
                    " (url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (url) DO NOTHING RETURNING url",
                    (index.url, index.warehouse_api_url, index.verify_ssl, index.enabled, index.only_if_package_seen),
                )
                if cursor.fetchone() is not None:
                    added.append(index.url)
        return added

    def indexes(self, *, enabled_only: bool = True) -> list[IndexRow]:
        """Return the registered indexes (only the enabled ones by default), ordered by id."""
        with self.read_only() as cursor:
            cursor.execute(
                "SELECT id, url, warehouse_api_url, verify_ssl, coalesce(enabled, false), only_if_package_seen"
                " FROM python_package_index" + (" WHERE enabled" if enabled_only else "") + " ORDER BY id"
            )
            return [IndexRow(*row) for row in cursor.fetchall()]

    def known_names(self) -> set[str]:
        """Return every package name the knowledge graph holds a version entity for."""
        with self.read_only() as cursor:
            cursor.execute("SELECT DISTINCT package_name FROM python_package_version_entity")
            return {name for (name,) in cursor.fetchall()}

    def known_versions(self, index_id: int | None, names: Sequence[str]) -> dict[str, set[str]]:
        """Return, for the given names, the versions already recorded on an index."""
        if index_id is None or not names:
            return {}
        with self.read_only() as cursor:
            return _known_versions(cursor, index_id, names)

    # -- job state ----------------------------------------------------------------------------------------

    def page_validators(self, index_url: str, names: Sequence[str]) -> dict[str, PageValidators]:
        """Return the validators (ETag, Last-Modified, serial) remembered for the given projects of an index."""
        if not names:
            return {}
        with self.read_only() as cursor:
            cursor.execute(
                f"SELECT project, etag, last_modified, serial FROM {_STATE}.page_state"
                " WHERE index_url = %s AND project = ANY(%s)",
                (index_url, list(names)),
            )
            return {
                project: PageValidators(etag=etag, last_modified=modified, serial=serial)
                for project, etag, modified, serial in cursor.fetchall()
            }

    def listing_validators(self, index_url: str, shard: str) -> PageValidators | None:
        """Return the validators a shard remembered for an index's project listing."""
        with self.read_only() as cursor:
            cursor.execute(
                f"SELECT etag, last_modified, serial FROM {_STATE}.listing_state WHERE index_url = %s AND shard = %s",
                (index_url, shard),
            )
            row = cursor.fetchone()
            return PageValidators(*row) if row else None

    def save_listing_validators(self, index_url: str, shard: str, validators: PageValidators) -> None:
        """Remember the validators of an index's project listing for a shard (after it scanned all its part)."""
        with self.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {_STATE}.listing_state (index_url, shard, etag, last_modified, serial)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (index_url, shard) DO UPDATE SET etag = excluded.etag,"
                " last_modified = excluded.last_modified, serial = excluded.serial, updated_at = now()",
                (index_url, shard, validators.etag, validators.last_modified, validators.serial),
            )

    # -- recording ----------------------------------------------------------------------------------------

    def record(
        self,
        index: IndexRow,
        found: Mapping[str, Iterable[str]],
        pages: Mapping[str, PageValidators],
        *,
        notifier: Notifier | None = None,
        dry_run: bool = False,
    ) -> ChunkOutcome:
        """Record one chunk of an index in one transaction and return what was new.

        Inserts the releases in ``found`` (name -> normalized versions) that the graph lacks, attaches the
        entity rules that match them, queues the notifications ``notifier`` asks for, and saves the pages'
        validators. Rows another run inserted meanwhile are neither duplicated nor reported as new. In a dry
        run nothing is written and the releases that would be inserted are returned.
        """
        names = sorted(set(found) | set(pages))
        if dry_run or index.id is None:
            known = self.known_versions(index.id, names)
            return ChunkOutcome(tuple(missing_releases(index.url, found, known)), 0)

        with self.transaction() as cursor:
            known = _known_versions(cursor, index.id, names)
            missing = missing_releases(index.url, found, known)
            inserted = _insert_entities(cursor, index.id, missing)
            _attach_rules(cursor, index.id, inserted)
            queued = _enqueue(cursor, [release for _, release in inserted], notifier) if notifier else 0
            _save_page_state(cursor, index.url, pages)
        return ChunkOutcome(tuple(release for _, release in inserted), queued)

    # -- outbox -------------------------------------------------------------------------------------------

    def pending_notifications(self) -> list[OutboxEntry]:
        """Return every queued notification, oldest first.

        All of them: a shard picks its own out of the list, so a limit here could starve a shard behind
        another's backlog. Dead-lettering keeps the list as short as the recent releases.
        """
        with self.read_only() as cursor:
            cursor.execute(
                f"SELECT id, trigger_key, package_name, package_version, index_url, attempts, last_error"
                f" FROM {_STATE}.outbox WHERE status = 'pending' ORDER BY id"
            )
            return [
                OutboxEntry(row[0], row[1], Release(row[2], row[3], row[4]), row[5], row[6])
                for row in cursor.fetchall()
            ]

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        """Record the outcome of a delivery attempt (status: pending, sent or dead)."""
        with self.transaction() as cursor:
            cursor.execute(
                f"UPDATE {_STATE}.outbox SET status = %s, attempts = %s, last_error = %s, updated_at = now()"
                " WHERE id = %s",
                (status, attempts, error, entry_id),
            )

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        """Return how many notifications of a shard's packages (all, unsharded) are pending, sent and dead."""
        counts = {"pending": 0, "sent": 0, "dead": 0}
        with self.read_only() as cursor:
            if shard_count <= 1:
                cursor.execute(f"SELECT status, count(*) FROM {_STATE}.outbox GROUP BY status")
                counts.update({status: int(count) for status, count in cursor.fetchall()})
                return counts
            cursor.execute(f"SELECT status, package_name, count(*) FROM {_STATE}.outbox GROUP BY status, package_name")
            for status, name, count in cursor.fetchall():
                if shard_of(name, shard_count) == shard_index:
                    counts[status] += int(count)
            return counts

    # -- run history --------------------------------------------------------------------------------------

    def save_run(self, started_at: datetime, finished_at: datetime, shard: str, succeeded: bool, summary: str) -> None:
        """Keep a line of history for a finished run (its JSON summary)."""
        with self.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {_STATE}.run (started_at, finished_at, shard, succeeded, summary)"
                " VALUES (%s, %s, %s, %s, %s::jsonb)",
                (started_at, finished_at, shard, succeeded, summary),
            )

    def last_successful_run(self, shard: str) -> datetime | None:
        """Return when the last successful run of a shard finished."""
        with self.read_only() as cursor:
            cursor.execute(f"SELECT max(finished_at) FROM {_STATE}.run WHERE succeeded AND shard = %s", (shard,))
            row = cursor.fetchone()
            return row[0] if row else None


def create_database(url: str) -> None:
    """Create the database a URL names, connecting to the server's ``postgres`` database to do it."""
    try:
        parameters = psycopg2.extensions.parse_dsn(to_dsn(url))
    except psycopg2.Error as error:
        raise DatabaseError(f"cannot read the database URL {mask_url(url)!r}: {_first_line(error)}") from None
    name = parameters.get("dbname") or parameters.get("user") or "postgres"
    maintenance = psycopg2.extensions.make_dsn(to_dsn(url), dbname="postgres")
    try:
        conn = psycopg2.connect(maintenance, connect_timeout=10, application_name="thoth-package-releases")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cursor:
                cursor.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
        finally:
            conn.close()
    except psycopg2.Error as error:
        raise DatabaseError(f"cannot create {describe_url(url)}: {_first_line(error)}") from None
    _LOGGER.info("Created %s", describe_url(url))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return mask_text(text.splitlines()[0] if text else type(error).__name__)


def _known_versions(cursor: Any, index_id: int | None, names: Sequence[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = defaultdict(set)
    if index_id is None or not names:
        return known
    cursor.execute(
        "SELECT package_name, package_version FROM python_package_version_entity"
        " WHERE python_package_index_id = %s AND package_name = ANY(%s)",
        (index_id, list(names)),
    )
    for name, version in cursor.fetchall():
        known[name].add(version)
    return known


def _insert_entities(cursor: Any, index_id: int, releases: Sequence[Release]) -> list[tuple[int, Release]]:
    if not releases:
        return []
    rows = psycopg2.extras.execute_values(
        cursor,
        "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
        " VALUES %s ON CONFLICT DO NOTHING RETURNING id, package_name, package_version",
        [(r.package_name, r.package_version, index_id) for r in releases],
        page_size=len(releases),
        fetch=True,
    )
    index_url = releases[0].index_url
    return [(entity_id, Release(name, version, index_url)) for entity_id, name, version in rows]


def _attach_rules(cursor: Any, index_id: int, inserted: Sequence[tuple[int, Release]]) -> int:
    if not inserted:
        return 0
    names = sorted({release.package_name for _, release in inserted})
    cursor.execute(
        "SELECT id, package_name, version_range, python_package_index_id FROM python_package_version_entity_rule"
        " WHERE package_name = ANY(%s)",
        (names,),
    )
    rules_by_name: dict[str, list[EntityRule]] = defaultdict(list)
    for row in cursor.fetchall():
        rule = EntityRule(*row)
        rules_by_name[rule.package_name].append(rule)
    if not rules_by_name:
        return 0
    pairs = [
        (entity_id, rule_id)
        for entity_id, release in inserted
        for rule_id in matching_rules(
            rules_by_name.get(release.package_name, ()), release.package_name, release.package_version, index_id
        )
    ]
    if pairs:
        psycopg2.extras.execute_values(
            cursor,
            "INSERT INTO python_package_version_entity_rules_association"
            " (python_package_version_entity_id, python_package_version_entity_rule_id) VALUES %s"
            " ON CONFLICT DO NOTHING",
            pairs,
            page_size=len(pairs),
        )
    return len(pairs)


def _enqueue(cursor: Any, releases: Sequence[Release], notifier: Notifier) -> int:
    rows = [
        (key, release.package_name, release.package_version, release.index_url)
        for release in releases
        for key in notifier(release)
    ]
    if not rows:
        return 0
    queued = psycopg2.extras.execute_values(
        cursor,
        f"INSERT INTO {_STATE}.outbox (trigger_key, package_name, package_version, index_url) VALUES %s"
        " ON CONFLICT DO NOTHING RETURNING id",
        rows,
        page_size=len(rows),
        fetch=True,
    )
    return len(queued)


def _save_page_state(cursor: Any, index_url: str, pages: Mapping[str, PageValidators]) -> None:
    rows = [(index_url, project, v.etag, v.last_modified, v.serial) for project, v in pages.items()]
    if not rows:
        return
    psycopg2.extras.execute_values(
        cursor,
        f"INSERT INTO {_STATE}.page_state (index_url, project, etag, last_modified, serial) VALUES %s"
        " ON CONFLICT (index_url, project) DO UPDATE SET etag = excluded.etag,"
        " last_modified = excluded.last_modified, serial = excluded.serial, updated_at = now()",
        rows,
        page_size=len(rows),
    )
