"""Which database a run uses (an explicit URL, Thoth's KNOWLEDGE_GRAPH_* variables, or the embedded server), opened."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from thoth.package_releases.config import ConfigError
from thoth.package_releases.embedded_db import EmbeddedDatabase
from thoth.package_releases.phases.ports import Adapters, DatabaseError, StorePort
from thoth.package_releases.settings import Settings

# The 2019 job's Dgraph settings, and what replaced them.
SEED_ERA_VARIABLES: Final = ("GRAPH_SERVICE_HOST", "GRAPH_TLS_PATH")
KNOWLEDGE_GRAPH_VARIABLES: Final = (
    "KNOWLEDGE_GRAPH_HOST",
    "KNOWLEDGE_GRAPH_PORT",
    "KNOWLEDGE_GRAPH_USER",
    "KNOWLEDGE_GRAPH_PASSWORD",
    "KNOWLEDGE_GRAPH_DATABASE",
    "KNOWLEDGE_GRAPH_SSL_DISABLED",
)


@dataclass(frozen=True)
class DatabaseChoice:
    """The database a run will use; ``url`` is None for the embedded server, whose URL is known once started."""

    url: str | None
    source: str  # how it was chosen, for the log line

    @property
    def embedded(self) -> bool:
        """Whether the run uses the embedded PostgreSQL."""
        return self.url is None


def url_from_environment(environ: Mapping[str, str]) -> str | None:
    """Build a database URL from Thoth's KNOWLEDGE_GRAPH_* variables (thoth-storages' defaults), if the host is set."""
    host = environ.get("KNOWLEDGE_GRAPH_HOST")
    if not host:
        return None
    user = quote(environ.get("KNOWLEDGE_GRAPH_USER", "postgres"), safe="")
    password = quote(environ.get("KNOWLEDGE_GRAPH_PASSWORD", "postgres"), safe="")
    port = environ.get("KNOWLEDGE_GRAPH_PORT", "5432")
    database = quote(environ.get("KNOWLEDGE_GRAPH_DATABASE", "postgres"), safe="")
    url = f"postgresql://{user}:{password}@{host}:{port}/{database}"
    if environ.get("KNOWLEDGE_GRAPH_SSL_DISABLED", "0").strip() not in ("", "0"):
        url += "?sslmode=disable"
    return url


def choose_database(database_url: str | None, environ: Mapping[str, str]) -> DatabaseChoice:
    """Pick the database: the explicit URL first, then KNOWLEDGE_GRAPH_HOST and friends, else the embedded server.

    Raises ConfigError when only the 2019 job's Dgraph variables say where the graph is: the run would
    otherwise quietly use an embedded database instead of the deployment's knowledge graph.
    """
    if database_url:
        return DatabaseChoice(database_url, "from --database-url")
    seed_era = [name for name in SEED_ERA_VARIABLES if environ.get(name, "").strip()]
    if seed_era and not any(environ.get(name, "").strip() for name in KNOWLEDGE_GRAPH_VARIABLES):
        raise ConfigError(
            "environment",
            " and ".join(seed_era),
            "the 2019 job's Dgraph settings are no longer read; set KNOWLEDGE_GRAPH_HOST, KNOWLEDGE_GRAPH_PORT, "
            "KNOWLEDGE_GRAPH_USER, KNOWLEDGE_GRAPH_PASSWORD and KNOWLEDGE_GRAPH_DATABASE (PostgreSQL), "
            "or --database-url",
        )
    from_environment = url_from_environment(environ)
    if from_environment:
        return DatabaseChoice(from_environment, "from the KNOWLEDGE_GRAPH_* variables")
    return DatabaseChoice(None, "no --database-url or KNOWLEDGE_GRAPH_HOST given")


@dataclass
class OpenDatabase:
    """The store a run uses, how to describe it, and the embedded server behind it (if any)."""

    store: StorePort
    description: str
    source: str  # how it was chosen, for the log line
    migrate_graph: bool  # whether the knowledge graph is brought to thoth-storages' head (else only checked)
    embedded: EmbeddedDatabase | None = None

    def close(self) -> None:
        """Close the connection and release the embedded server."""
        self.store.close()
        if self.embedded is not None:
            self.embedded.stop()


def open_database(settings: Settings, adapters: Adapters) -> OpenDatabase:
    """Choose the run's database, start the embedded server if it is the one, and connect.

    With ``--init-schema`` (and not a dry run) a database missing on its server is created. Raises
    DatabaseError or EmbeddedDatabaseError, one line naming the database; nothing is left running then.
    """
    choice = choose_database(settings.database_url, settings.environ)
    embedded: EmbeddedDatabase | None = None
    writes = settings.init_schema and not settings.dry_run
    try:
        if choice.url is None:
            embedded = EmbeddedDatabase(settings.data_dir)
            url = embedded.start()
        else:
            url = choice.url
        store = _connect(adapters, url, create=writes)
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    description = store.description if choice.url else f"embedded PostgreSQL in {settings.data_dir.resolve()}"
    return OpenDatabase(store, description, choice.source, migrate_graph=choice.embedded or writes, embedded=embedded)


def _connect(adapters: Adapters, url: str, *, create: bool) -> StorePort:
    """Connect; with ``create`` (--init-schema), create the database first when the server lacks it."""
    try:
        return adapters.connect_store(url)
    except DatabaseError as error:
        if "does not exist" not in str(error):
            raise
        if not create:
            raise DatabaseError(f"{error}; run with --init-schema to create and migrate it") from None
    adapters.create_database(url)
    return adapters.connect_store(url)
