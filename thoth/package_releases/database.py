"""Which database a run uses: an explicit URL, Thoth's KNOWLEDGE_GRAPH_* variables, or the embedded server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote


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
    """Pick the database: the explicit URL first, then KNOWLEDGE_GRAPH_HOST and friends, else the embedded server."""
    if database_url:
        return DatabaseChoice(database_url, "from --database-url")
    from_environment = url_from_environment(environ)
    if from_environment:
        return DatabaseChoice(from_environment, "from the KNOWLEDGE_GRAPH_* variables")
    return DatabaseChoice(None, "no --database-url or KNOWLEDGE_GRAPH_HOST given")
