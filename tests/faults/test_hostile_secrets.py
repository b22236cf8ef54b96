"""Hostile servers and configurations, issue 10 (6): secrets that leak or can be sent away.

A database password in any form of connection string, a webhook token with a trailing newline, a template
naming ``KNOWLEDGE_GRAPH_PASSWORD``: none may show in standard output, standard error, the report or the job's
tables (``outbox.last_error``, ``run.summary``). A remote configuration over plain http, or redirected to
another origin, is refused unless the operator passes ``--allow-insecure-config``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.faults.conftest import Certificate, Job, KnowledgeGraph, closed_port
from tests.faults.hostile_fixtures import (
    Serve,
    assert_never_shown,
    assert_not_stored,
    scan_config,
    server_tls,
    trusting,
)
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.hostile import HostileServer, Index, Reply, Routes, ok, redirect

pytestmark = pytest.mark.faults

DB_PASSWORD = "S3cr3tPW"
TOKEN = "Tok-hostile-5ecret-2f9"
KG_PASSWORD = "Kg-Pa55-hostile-77"
ALLOW_INSECURE = "--allow-insecure-config"  # the option this suite asks for (issue 10)
PROJECTS = {"alpha": ["1.0", "1.1"], "beta": ["2.0"]}
ROWS = {(name, version) for name, versions in PROJECTS.items() for version in versions}


def keyword_dsn(url: str, password: str, **override: str) -> str:
    """The test database's URL as a libpq keyword/value connection string carrying ``password``."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = query.get("host") or parts.hostname or "127.0.0.1"
    fields = {
        "host": host,
        "port": str(parts.port or 5432),
        "user": parts.username or "postgres",
        "password": password,
        "dbname": parts.path.lstrip("/"),
        "sslmode": "disable",
        **override,
    }
    return " ".join(f"{key}={value}" for key, value in fields.items() if value)


# -- database passwords ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        pytest.param({}, id="working"),
        pytest.param({"sslmode": "", "sslmod": "disable"}, id="misspelt-keyword"),
        pytest.param({"dbname": "no_such_database"}, id="missing-database"),
    ],
)
def test_keyword_dsn_password_is_never_shown(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, override: dict[str, str]
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run("-v", config=config, database_url=keyword_dsn(kg.url, DB_PASSWORD, **override))

    assert result.report_text is not None, result
    assert_never_shown(DB_PASSWORD, result)
    assert_not_stored(kg, DB_PASSWORD)
    if not override:
        assert result.code == 0, result
        assert set(kg.rows(f"{index.url}/simple")) == ROWS


@pytest.mark.parametrize("separator", ["/", "@"], ids=["slash", "at"])
def test_url_password_with_an_unencoded_separator_is_never_shown_in_part(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, separator: str
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")
    head, tail = "Pw7xHead", "Qz9kTail"
    url = f"postgresql://thoth:{head}{separator}{tail}@127.0.0.1:{closed_port()}/kg"

    result = job.run("-v", config=config, database_url=url)

    assert result.code in (1, 2), result
    assert result.report_text is not None, result
    assert_never_shown(head, result)
    assert_never_shown(tail, result)


# -- webhook tokens -------------------------------------------------------------------------------------------------


def test_webhook_token_with_a_trailing_newline_is_never_shown_or_stored(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: Reply(200, "OK")))
    trigger = {"url": f"{hook.url}/hook", "headers": {"Authorization": "Bearer {THOTH_TRIGGER_TOKEN}"}}
    config = scan_config(config_path, f"{index.url}/simple", packages={"alpha": {"triggers": [trigger]}})
    environment = {"THOTH_TRIGGER_TOKEN": TOKEN + "\n"}  # what `oc create secret --from-file` gives

    result = job.run("-v", "--notification-attempts", "1", config=config, database_url=kg.url, env=environment)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    assert_never_shown(TOKEN, result)
    assert_not_stored(kg, TOKEN)


# -- templates reading secrets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["payload", "query", "host"])
def test_trigger_template_reading_the_database_password_is_a_configuration_error(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, where: str
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: Reply(200, "OK")))
    secret = KG_PASSWORD
    trigger: dict[str, object] = {"url": f"{hook.url}/hook"}
    if where == "payload":
        trigger["payload"] = {"name": "{package_name}", "pw": "{KNOWLEDGE_GRAPH_PASSWORD}"}
    elif where == "query":
        trigger["url"] = f"{hook.url}/hook?pw={{KNOWLEDGE_GRAPH_PASSWORD}}"
    else:
        # The "password" is this host, so that a run which accepts the template still talks only to 127.0.0.1.
        secret = "127.0.0.1"
        trigger["url"] = f"http://{{KNOWLEDGE_GRAPH_PASSWORD}}:{hook.port}/hook"
    config = scan_config(config_path, f"{index.url}/simple", packages={"alpha": {"triggers": [trigger]}})

    result = job.run(config=config, database_url=kg.url, env={"KNOWLEDGE_GRAPH_PASSWORD": secret})

    assert result.code == 2, result
    (line,) = result.error_lines
    assert "packages.alpha.triggers[0]" in line, line
    assert hook.requests == []
    assert index.requests == []
    if where != "host":
        assert_never_shown(secret, result)


# -- remote configuration -------------------------------------------------------------------------------------------


def _configuration(config_path: Path, serve: Serve) -> tuple[HostileServer, bytes]:
    """An index and the text of a configuration that scans it."""
    index = serve(Index(dict(PROJECTS)).routes())
    return index, Path(scan_config(config_path, f"{index.url}/simple")).read_bytes()


def test_configuration_over_plain_http_is_refused(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index, text = _configuration(config_path, serve)
    server = serve(Routes({"/thoth.yaml": ok(text, "application/yaml")}))

    result = job.run(config=f"{server.url}/thoth.yaml", database_url=kg.url)

    assert result.code == 2, result
    assert len(result.error_lines) == 1, result
    assert index.requests == []
    assert kg.index_urls() == []


def test_configuration_over_plain_http_is_read_when_explicitly_allowed(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index, text = _configuration(config_path, serve)
    server = serve(Routes({"/thoth.yaml": ok(text, "application/yaml")}))

    result = job.run(ALLOW_INSECURE, config=f"{server.url}/thoth.yaml", database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS


def _redirecting(serve: Serve, certificate: Certificate, text: bytes) -> tuple[HostileServer, HostileServer]:
    """Two https servers (two origins): the first redirects /thoth.yaml to the second, which serves it."""
    tls = server_tls(certificate)
    elsewhere = serve(Routes({"/thoth.yaml": ok(text, "application/yaml")}), tls=tls)
    first = serve(Routes({"/thoth.yaml": redirect(f"{elsewhere.url}/thoth.yaml")}), tls=tls)
    return first, elsewhere


def test_configuration_redirected_to_another_origin_is_refused(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, self_signed: Certificate
) -> None:
    index, text = _configuration(config_path, serve)
    first, elsewhere = _redirecting(serve, self_signed, text)

    result = job.run(config=f"{first.url}/thoth.yaml", database_url=kg.url, env=trusting(self_signed))

    assert result.code == 2, result
    assert len(result.error_lines) == 1, result
    assert elsewhere.requests == []
    assert index.requests == []


def test_configuration_redirected_to_another_origin_is_read_when_explicitly_allowed(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, self_signed: Certificate
) -> None:
    index, text = _configuration(config_path, serve)
    first, elsewhere = _redirecting(serve, self_signed, text)

    result = job.run(ALLOW_INSECURE, config=f"{first.url}/thoth.yaml", database_url=kg.url, env=trusting(self_signed))

    assert result.code == 0, result
    assert len(elsewhere.requests) == 1
    assert set(kg.rows(f"{index.url}/simple")) == ROWS


def test_configuration_redirected_within_its_origin_is_read(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, self_signed: Certificate
) -> None:
    """The control case: a redirect to another path of the same origin is no reason to refuse."""
    index, text = _configuration(config_path, serve)
    server = serve(Routes({"/new.yaml": ok(text, "application/yaml")}), tls=server_tls(self_signed))
    server.responder = Routes({"/new.yaml": ok(text, "application/yaml"), "/thoth.yaml": redirect("/new.yaml")})

    result = job.run(config=f"{server.url}/thoth.yaml", database_url=kg.url, env=trusting(self_signed))

    assert result.code == 0, result
    assert server.paths == ["/thoth.yaml", "/new.yaml"]
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
