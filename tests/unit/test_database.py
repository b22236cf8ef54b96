"""Which database a run uses (database.py): --database-url, KNOWLEDGE_GRAPH_*, the embedded server, and the
2019 job's Dgraph variables, which stop the run instead of sending it to an embedded database."""

from __future__ import annotations

import pytest

from thoth.package_releases.config import ConfigError
from thoth.package_releases.database import KNOWLEDGE_GRAPH_VARIABLES, choose_database
from thoth.package_releases.embedded_db import without_password

EXPLICIT = "postgresql://thoth:secret@db.example:5432/thoth"


def test_explicit_url_wins() -> None:
    choice = choose_database(EXPLICIT, {"KNOWLEDGE_GRAPH_HOST": "other"})
    assert (choice.url, choice.source, choice.embedded) == (EXPLICIT, "from --database-url", False)


def test_knowledge_graph_variables_with_thoth_storages_defaults() -> None:
    choice = choose_database(None, {"KNOWLEDGE_GRAPH_HOST": "graph", "KNOWLEDGE_GRAPH_PASSWORD": "p@ss"})
    assert choice.url == "postgresql://postgres:p%40ss@graph:5432/postgres"
    assert choice.source == "from the KNOWLEDGE_GRAPH_* variables"


def test_nothing_configured_means_the_embedded_server() -> None:
    choice = choose_database(None, {})
    assert choice.embedded
    assert choice.url is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        pytest.param({"GRAPH_SERVICE_HOST": "dgraph.thoth:9080"}, "GRAPH_SERVICE_HOST", id="host"),
        pytest.param({"GRAPH_TLS_PATH": "/etc/dgraph/tls"}, "GRAPH_TLS_PATH", id="tls-path"),
        pytest.param(
            {"GRAPH_SERVICE_HOST": "dgraph", "GRAPH_TLS_PATH": "/tls", "KNOWLEDGE_GRAPH_HOST": ""},
            "GRAPH_SERVICE_HOST and GRAPH_TLS_PATH",
            id="both-and-an-empty-knowledge-graph-host",
        ),
    ],
)
def test_seed_era_variables_alone_are_a_configuration_error(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        choose_database(None, environ)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"environment: {named}: ")
    assert "no longer read" in message
    for replacement in KNOWLEDGE_GRAPH_VARIABLES[:-1]:  # all but KNOWLEDGE_GRAPH_SSL_DISABLED
        assert replacement in message
    assert "--database-url" in message
    # The values are not echoed: a Dgraph address is not a secret, but a TLS path could sit next to keys.
    for value in environ.values():
        if value:
            assert value not in message


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"GRAPH_SERVICE_HOST": "dgraph", "KNOWLEDGE_GRAPH_HOST": "graph"}, id="with-host"),
        pytest.param({"GRAPH_TLS_PATH": "/tls", "KNOWLEDGE_GRAPH_PORT": "5433"}, id="with-another-variable"),
    ],
)
def test_seed_era_variables_next_to_knowledge_graph_ones_are_ignored(environ: dict[str, str]) -> None:
    choice = choose_database(None, environ)
    host = environ.get("KNOWLEDGE_GRAPH_HOST")
    assert choice.url == (f"postgresql://postgres:postgres@{host}:5432/postgres" if host else None)


def test_seed_era_variables_with_an_explicit_url_are_ignored() -> None:
    assert choose_database(EXPLICIT, {"GRAPH_SERVICE_HOST": "dgraph"}).url == EXPLICIT


def test_empty_seed_era_variables_are_not_set() -> None:
    assert choose_database(None, {"GRAPH_SERVICE_HOST": " ", "GRAPH_TLS_PATH": ""}).embedded


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "postgresql://postgres:@/postgres?host=/data/pgdata",
            "postgresql://postgres@/postgres?host=/data/pgdata",
            id="embedded-empty-password",
        ),
        pytest.param("postgresql://u:secret@db:5432/thoth", "postgresql://u@db:5432/thoth", id="password"),
        pytest.param("postgresql://db/thoth", "postgresql://db/thoth", id="no-user"),
    ],
)
def test_embedded_url_is_shown_without_a_password(url: str, shown: str) -> None:
    assert without_password(url) == shown
