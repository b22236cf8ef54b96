"""thoth-storages' schema of the knowledge graph: its alembic head revision, and the upgrade to it."""

from __future__ import annotations

import ast
import importlib.util
import logging
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg2

from thoth.package_releases.store.connection import first_line

_LOGGER = logging.getLogger(__name__)


class SchemaError(Exception):
    """A database schema is missing, not at the revision this job needs, or cannot be created."""


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
    from sqlalchemy.exc import SQLAlchemyError

    _LOGGER.info("Migrating the knowledge graph schema to thoth-storages revision %s", head_revision())
    # alembic logs a line per migration (over 80 from an empty database): only with --verbose.
    alembic_logger = logging.getLogger("alembic")
    if not _LOGGER.isEnabledFor(logging.DEBUG):
        alembic_logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # thoth-storages' models make SQLAlchemy warn about duplicate column keys on import: noise.
        warnings.filterwarnings("ignore", message=".*which has the same key.*")
        try:
            command.upgrade(alembic_config(sqlalchemy_url), "head")
        except (SQLAlchemyError, psycopg2.Error) as error:
            # A role without the privileges (CREATE on the schema), a lost connection...: one line, no traceback.
            cause = getattr(error, "orig", None) or error
            raise SchemaError(
                f"cannot migrate the knowledge graph to thoth-storages revision {head_revision()}: "
                f"{first_line(cause, sqlalchemy_url)}"
            ) from None
