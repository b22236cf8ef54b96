"""The job's own state, in a schema of its own: page and listing validators, outbox, run history, run lock."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras

from thoth.package_releases.clean import MAX_NAME_LENGTH, clean_serial, clean_text, clean_validator
from thoth.package_releases.releases import shard_of
from thoth.package_releases.store.connection import Connection, Cursor, DatabaseError, first_line
from thoth.package_releases.store.schema import SchemaError
from thoth.package_releases.store.state_schema import STATE_MIGRATIONS, STATE_SCHEMA
from thoth.package_releases.values import ListingState, Notifier, OutboxEntry, PageValidators, ReleaseEvent

_LOGGER = logging.getLogger(__name__)


_STATE = STATE_SCHEMA
_LOCK_NAMESPACE = zlib.crc32(b"thoth-package-releases-job") & 0x7FFFFFFF
_STREAM_ROWS = 20_000  # the rows a server-side cursor hands over at a time
_MIGRATION_LOCK = 0  # the key of the transaction lock serializing the state migrations of concurrent runs

# Raised when the schema or its tables appear between our IF NOT EXISTS check and our CREATE: someone made
# them without taking the migration lock (by hand, say). The retry then finds them.
_CREATED_MEANWHILE = (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateSchema, psycopg2.errors.DuplicateTable)


class JobState:
    """Reads and writes of the job's schema ``thoth_package_releases`` over a shared connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock_key: int | None = None
        conn.on_connect(self._restore_lock)

    # -- schema -------------------------------------------------------------------------------------------

    def version(self) -> int:
        """Return the version of the job's state schema (0 when absent)."""
        with self._conn.read_only() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{_STATE}.schema_version",))
            (exists,) = cursor.fetchone()
            if not exists:
                return 0
            cursor.execute(f"SELECT max(version) FROM {_STATE}.schema_version")
            (version,) = cursor.fetchone()
            return int(version or 0)

    def ensure_schema(self) -> None:
        """Create the state schema or apply its pending migrations; concurrent runs wait for the first one."""
        if self.version() >= len(STATE_MIGRATIONS):
            return
        for attempt in (1, 2):
            try:
                self._migrate()
                return
            except psycopg2.Error as error:
                if attempt == 1 and isinstance(error, _CREATED_MEANWHILE):
                    continue
                reason = first_line(error, self._conn.url)
                raise SchemaError(
                    f"cannot create the job's state schema {_STATE!r} in {self._conn.description}: {reason}"
                ) from None

    def _migrate(self) -> None:
        with self._conn.transaction() as cursor:
            # Taken before anything is read: the runs that waited then see the committed schema and skip it.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_NAMESPACE, _MIGRATION_LOCK))
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {_STATE}")
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {_STATE}.schema_version (version INTEGER PRIMARY KEY)")
            cursor.execute(f"SELECT coalesce(max(version), 0) FROM {_STATE}.schema_version")
            (current,) = cursor.fetchone()
            for version in range(int(current) + 1, len(STATE_MIGRATIONS) + 1):
                _LOGGER.info("Migrating the job's state schema to version %d", version)
                cursor.execute(STATE_MIGRATIONS[version - 1])
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

    def release_lock(self) -> None:
        """Release the run lock now (closing the connection releases it too, but only once the server noticed)."""
        if self._lock_key is None:
            return
        self._lock_key = None
        with suppress(DatabaseError, psycopg2.Error), self._conn.transaction() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")

    def _restore_lock(self) -> None:
        """Take again, on a new connection, the run lock held before; DatabaseError when another run took it."""
        if self._lock_key is not None and not self._try_lock(self._lock_key):
            raise DatabaseError(f"lost the run lock on {self._conn.description} to another run")

    def _try_lock(self, key: int) -> bool:
        with self._conn.transaction() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, key))
            (locked,) = cursor.fetchone()
        return bool(locked)

    # -- validators ---------------------------------------------------------------------------------------

    def page_validators(self, index_url: str, names: Sequence[str]) -> dict[str, PageValidators]:
        """Return the validators (ETag, Last-Modified, serial) remembered for the given projects of an index."""
        if not names:
            return {}
        with self._conn.read_only() as cursor:
            cursor.execute(
                f"SELECT project, etag, last_modified, serial FROM {_STATE}.page_state"
                " WHERE index_url = %s AND project = ANY(%s)",
                (index_url, list(names)),
            )
            return {
                project: PageValidators(etag=etag, last_modified=modified, serial=serial)
                for project, etag, modified, serial in cursor.fetchall()
            }

    def page_serials(self, index_url: str, names: Collection[str] | None = None) -> dict[str, int | None]:
        """Return the serial (None when unknown) remembered for each project of an index with stored validators.

        One pass over the index's stored pages, streamed; ``names`` given, only those projects are kept.
        """
        serials: dict[str, int | None] = {}
        with self._conn.read_only(), self._conn.raw.cursor(name="thoth_page_serials") as cursor:
            cursor.itersize = _STREAM_ROWS
            cursor.execute(f"SELECT project, serial FROM {_STATE}.page_state WHERE index_url = %s", (index_url,))
            for project, serial in cursor:
                if names is None or project in names:
                    serials[project] = serial
        return serials

    def page_names(self, index_url: str) -> set[str]:
        """Return every project of an index whose page validators are remembered."""
        with self._conn.read_only() as cursor:
            cursor.execute(f"SELECT project FROM {_STATE}.page_state WHERE index_url = %s", (index_url,))
            return {project for (project,) in cursor.fetchall()}

    def listing_state(self, index_url: str, shard: str) -> ListingState | None:
        """Return what a shard remembered of an index's project listing."""
        with self._conn.read_only() as cursor:
            cursor.execute(
                f"SELECT etag, last_modified, serial, project_serials FROM {_STATE}.listing_state"
                " WHERE index_url = %s AND shard = %s",
                (index_url, shard),
            )
            row = cursor.fetchone()
            return ListingState(PageValidators(*row[:3]), row[3]) if row else None

    def save_listing_state(self, index_url: str, shard: str, listing: ListingState) -> None:
        """Remember an index's project listing for a shard (after it scanned all its part)."""
        validators = listing.validators
        with self._conn.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {_STATE}.listing_state (index_url, shard, etag, last_modified, serial, project_serials)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (index_url, shard) DO UPDATE SET etag = excluded.etag,"
                " last_modified = excluded.last_modified, serial = excluded.serial,"
                " project_serials = excluded.project_serials, updated_at = now()",
                (
                    index_url,
                    shard,
                    validators.etag,
                    validators.last_modified,
                    validators.serial,
                    listing.project_serials,
                ),
            )

    # -- outbox -------------------------------------------------------------------------------------------

    def pending_notifications(self) -> list[OutboxEntry]:
        """Return every queued notification, oldest first.

        All of them: a shard picks its own out of the list, so a limit here could starve a shard behind
        another's backlog. Dead-lettering keeps the list as short as the recent releases.
        """
        with self._conn.read_only() as cursor:
            cursor.execute(
                f"SELECT id, trigger_key, kind, package_name, package_version, index_url, details, attempts, last_error"
                f" FROM {_STATE}.outbox WHERE status = 'pending' ORDER BY id"
            )
            return [
                OutboxEntry(row[0], row[1], ReleaseEvent(row[2], row[3], row[4], row[5], row[6] or {}), row[7], row[8])
                for row in cursor.fetchall()
            ]

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        """Record the outcome of a delivery attempt (status: pending, sent or dead)."""
        with self._conn.transaction() as cursor:
            cursor.execute(
                f"UPDATE {_STATE}.outbox SET status = %s, attempts = %s, last_error = %s, updated_at = now()"
                " WHERE id = %s",
                (status, attempts, None if error is None else clean_text(error), entry_id),
            )

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        """Return how many notifications of a shard's packages (all, unsharded) are pending, sent and dead."""
        counts = {"pending": 0, "sent": 0, "dead": 0}
        with self._conn.read_only() as cursor:
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
        """Keep a line of history for a finished run (its JSON summary, its texts cleaned for PostgreSQL).

        A summary PostgreSQL refuses all the same is a DatabaseError, like a lost connection: never a crash.
        """
        try:
            with self._conn.transaction() as cursor:
                cursor.execute(
                    f"INSERT INTO {_STATE}.run (started_at, finished_at, shard, succeeded, summary)"
                    " VALUES (%s, %s, %s, %s, %s::jsonb)",
                    (started_at, finished_at, shard, succeeded, _clean_json(summary)),
                )
        except (psycopg2.Error, ValueError) as error:
            raise DatabaseError(f"cannot record the run in {self._conn.description}: {first_line(error)}") from None

    def last_successful_run(self, shard: str) -> datetime | None:
        """Return when the last successful run of a shard finished."""
        with self._conn.read_only() as cursor:
            cursor.execute(f"SELECT max(finished_at) FROM {_STATE}.run WHERE succeeded AND shard = %s", (shard,))
            row = cursor.fetchone()
            return row[0] if row else None

    # -- cursor-level steps of recording a chunk (the caller owns the transaction) ----------------------------

    def enqueue(self, cursor: Cursor, events: Sequence[ReleaseEvent], notifier: Notifier) -> int:
        """Queue one notification per event and trigger ``notifier`` names for it; return how many were queued.

        A ``new_release`` entry already queued (by another run, or by the feeds) is not queued again.
        """
        rows = [
            (
                key,
                event.kind,
                event.package_name,
                event.package_version,
                event.index_url,
                json.dumps(_cleaned(dict(event.details))),
            )
            for event in events
            for key in notifier(event)
        ]
        if not rows:
            return 0
        queued = psycopg2.extras.execute_values(
            cursor,
            f"INSERT INTO {_STATE}.outbox (trigger_key, kind, package_name, package_version, index_url, details)"
            " VALUES %s ON CONFLICT DO NOTHING RETURNING id",
            rows,
            template="(%s, %s, %s, %s, %s, %s::jsonb)",
            page_size=len(rows),
            fetch=True,
        )
        return len(queued)

    def snapshots_in(self, cursor: Cursor, index_url: str, names: Sequence[str]) -> dict[str, str]:
        """Return the page snapshots (encoded) kept for the given projects of an index."""
        if not names:
            return {}
        cursor.execute(
            f"SELECT project, releases FROM {_STATE}.page_snapshot WHERE index_url = %s AND project = ANY(%s)",
            (index_url, list(names)),
        )
        return dict(cursor.fetchall())

    def save_snapshots_in(self, cursor: Cursor, index_url: str, snapshots: Mapping[str, str]) -> None:
        """Keep the page snapshots (encoded) of projects of an index, replacing those kept before."""
        rows = [(index_url, name, text) for name, text in snapshots.items() if len(name) <= MAX_NAME_LENGTH]
        if not rows:
            return
        psycopg2.extras.execute_values(
            cursor,
            f"INSERT INTO {_STATE}.page_snapshot (index_url, project, releases) VALUES %s"
            " ON CONFLICT (index_url, project) DO UPDATE SET releases = excluded.releases, updated_at = now()",
            rows,
            page_size=len(rows),
        )

    def forget_pages_in(self, cursor: Cursor, index_url: str, names: Collection[str]) -> None:
        """Forget the validators of projects an index no longer has (``404``): they are not found there any more."""
        if names:
            cursor.execute(
                f"DELETE FROM {_STATE}.page_state WHERE index_url = %s AND project = ANY(%s)",
                (index_url, sorted(names)),
            )

    def save_page_state(self, cursor: Cursor, index_url: str, pages: Mapping[str, PageValidators]) -> None:
        """Remember the validators of the project pages of an index."""
        rows = [(index_url, p, *_validator_columns(v)) for p, v in pages.items() if len(p) <= MAX_NAME_LENGTH]
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


def _validator_columns(validators: PageValidators) -> tuple[str | None, str | None, int | None]:
    """Return the ETag, Last-Modified and serial to store: unsafe or out-of-range values are stored as absent."""
    return (
        clean_validator(validators.etag),
        clean_validator(validators.last_modified),
        clean_serial(validators.serial),
    )


def _clean_json(document: str) -> str:
    """Return a JSON document with every string in it cleaned (jsonb refuses NUL, lone surrogates)."""
    return json.dumps(_cleaned(json.loads(document)))


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value, limit=None)
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    if isinstance(value, dict):
        return {_cleaned(key): _cleaned(item) for key, item in value.items()}
    return value
