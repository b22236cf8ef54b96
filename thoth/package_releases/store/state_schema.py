"""The versioned migrations of the job's own schema ``thoth_package_releases`` (apart from thoth-storages' graph)."""

from __future__ import annotations

STATE_SCHEMA = "thoth_package_releases"

# Versioned migrations of the job's own schema; append only, never edit a released entry.
STATE_MIGRATIONS: tuple[str, ...] = (
    # 1: page validators, listing validators, notification outbox, run history.
    f"""
    CREATE TABLE {STATE_SCHEMA}.page_state (
        index_url     TEXT NOT NULL,
        project       TEXT NOT NULL,
        etag          TEXT,
        last_modified TEXT,
        serial        BIGINT,
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (index_url, project)
    );
    CREATE TABLE {STATE_SCHEMA}.listing_state (
        index_url     TEXT PRIMARY KEY,
        etag          TEXT,
        last_modified TEXT,
        serial        BIGINT,
        updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE {STATE_SCHEMA}.outbox (
        id              BIGSERIAL PRIMARY KEY,
        trigger_key     TEXT NOT NULL,
        package_name    TEXT NOT NULL,
        package_version TEXT NOT NULL,
        index_url       TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (trigger_key, package_name, package_version, index_url)
    );
    CREATE INDEX outbox_pending_idx ON {STATE_SCHEMA}.outbox (id) WHERE status = 'pending';
    CREATE TABLE {STATE_SCHEMA}.run (
        id          BIGSERIAL PRIMARY KEY,
        started_at  TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL,
        shard       TEXT NOT NULL,
        succeeded   BOOLEAN NOT NULL,
        summary     JSONB NOT NULL
    );
    """,
    # 2: the listing's validators are kept per shard: a shard must not take another shard's 304 to mean
    # that its own part of the index is unchanged.
    f"""
    ALTER TABLE {STATE_SCHEMA}.listing_state ADD COLUMN shard TEXT NOT NULL DEFAULT '0/1';
    ALTER TABLE {STATE_SCHEMA}.listing_state DROP CONSTRAINT listing_state_pkey;
    ALTER TABLE {STATE_SCHEMA}.listing_state ADD PRIMARY KEY (index_url, shard);
    """,
    # 3: whether the listing carried a serial per project: only then does its 304 prove the projects unchanged
    # (NULL, for the rows written before: not known).
    f"""
    ALTER TABLE {STATE_SCHEMA}.listing_state ADD COLUMN project_serials BOOLEAN;
    """,
    # 4: release events in the outbox: each entry keeps its event's kind ('new_release' for
    # the rows queued before) and details; a missing_package event has no version. Only new_release entries stay
    # unique per (trigger, release): a version is new once, whereas a release may be yanked, unyanked and
    # yanked again, each one an event of its own (the detection emits each once, in the transaction that
    # records it).
    f"""
    ALTER TABLE {STATE_SCHEMA}.outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'new_release';
    ALTER TABLE {STATE_SCHEMA}.outbox ADD COLUMN details JSONB NOT NULL DEFAULT '{{}}'::jsonb;
    ALTER TABLE {STATE_SCHEMA}.outbox ALTER COLUMN package_version DROP NOT NULL;
    ALTER TABLE {STATE_SCHEMA}.outbox ADD CONSTRAINT outbox_version_check
        CHECK (package_version IS NOT NULL OR kind = 'missing_package');
    ALTER TABLE {STATE_SCHEMA}.outbox DROP CONSTRAINT outbox_trigger_key_package_name_package_version_index_url_key;
    CREATE UNIQUE INDEX outbox_new_release_once ON {STATE_SCHEMA}.outbox
        (trigger_key, package_name, package_version, index_url) WHERE kind = 'new_release';
    """,
    # 5: what the job saw of each project page it read, to detect release events:
    # the versions on the page, a 6-byte identity per file name, the yanked releases and reasons, the versions missing,
    # the last mismatch reported (release_events.Snapshot: compact JSON, about 60 bytes for a release of 6 files).
    f"""
    CREATE TABLE {STATE_SCHEMA}.page_snapshot (
        index_url  TEXT NOT NULL,
        project    TEXT NOT NULL,
        releases   TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (index_url, project)
    );
    """,
)

__all__ = ["STATE_MIGRATIONS", "STATE_SCHEMA"]
