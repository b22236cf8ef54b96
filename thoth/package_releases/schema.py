"""Database schemas: thoth-storages' knowledge graph (its alembic migrations) and the job's own state schema."""

from __future__ import annotations

import ast
import importlib.util
import logging
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

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
)


class SchemaError(Exception):
    """The knowledge graph schema is missing or not at the revision this job needs."""


def _storages_data_dir() -> Path:
    """Locate thoth-storages' data folder without importing the (slow to import) package."""
    spec = importlib.util.find_spec("thoth.storages")
    if spec is None or not spec.submodule_search_locations:
        raise SchemaError("thoth-storages is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def alembic_config(sqlalchemy_url: str) -> Any:
    """Return thoth-storages' alembic configuration pointed at the given database."""
    from alembic.config import Config

    data = _storages_data_dir()
    config = Config(str(data / "alembic.ini"))
    config.attributes["configure_logger"] = False
    config.set_section_option("alembic", "script_location", str(data / "alembic"))
    # configparser interpolates '%': escape it so URL-encoded passwords survive.
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Return the alembic head revision of the installed thoth-storages.

    The migration scripts are read as text, not imported: importing them loads thoth-storages, which costs
    seconds that a steady run (schema already at head) should not pay.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_storages_data_dir() / "alembic" / "versions").glob("*.py"):
        values = _module_constants(path, ("revision", "down_revision"))
        revision = values.get("revision")
        if isinstance(revision, str):
            revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(parent) for parent in down)
    heads = revisions - parents
    if len(heads) != 1:
        raise SchemaError(f"thoth-storages' migrations have {len(heads)} heads, expected one: {sorted(heads)}")
    return heads.pop()


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Return the literal values of top-level assignments to ``names`` in a Python file."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        if node.targets[0].id in names:
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def upgrade_knowledge_graph(sqlalchemy_url: str) -> None:
    """Bring the knowledge graph to thoth-storages' alembic head (creates every table on an empty database)."""
    from alembic import command

    _LOGGER.info("Migrating the knowledge graph schema to thoth-storages revision %s", head_revision())
    # alembic logs a line per migration (over 80 from an empty database): only with --verbose.
    alembic_logger = logging.getLogger("alembic")
    if not _LOGGER.isEnabledFor(logging.DEBUG):
        alembic_logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # thoth-storages' models make SQLAlchemy warn about duplicate column keys on import: noise.
        warnings.filterwarnings("ignore", message=".*which has the same key.*")
        command.upgrade(alembic_config(sqlalchemy_url), "head")
