"""Security, each with a test: no credential in logs, report or errors; TLS verified unless turned off (and then
one warning); YAML loaded safely; remote configuration size-limited; templates restricted; ~/.netrc credentials
used but never shown; nothing written outside the database and --data-dir."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import (
    Certificate,
    Job,
    KnowledgeGraph,
    Result,
    TLSIndexServer,
    TLSWebhookReceiver,
    assert_rows_complete,
    closed_port,
    normalized_model,
    projects,
    write_config,
)
from tests.support.servers import LISTING, FeedServer, IndexServer, WebhookReceiver

pytestmark = pytest.mark.faults

DB_PASSWORD = "Db-Pa55-c0ffee-91"
INDEX_PASSWORD = "Idx-Pa55-d00d-42"
WEBHOOK_TOKEN = "Tok-5ecret-feed-77"
NETRC_PASSWORD = "Netrc-Pa55-beef-13"
TLS_OFF_WARNING = "TLS verification is off"


def assert_never_shown(secret: str, *results: Result) -> None:
    encoded = base64.b64encode(secret.encode()).decode()
    for result in results:
        assert secret not in result.everything, f"{secret!r} shown\n{result}"
        assert encoded[:16] not in result.everything, f"base64 of {secret!r} shown\n{result}"


# -- no credential in logs, report or exceptions ----------------------------------------------------------------


def test_database_password_never_shown_from_the_url_or_the_knowledge_graph_variables(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(2)) as index:
        config = write_config(config_path, index.base_url)
        port = closed_port()

        by_url = job.run("-v", config=config, database_url=f"postgresql://thoth:{DB_PASSWORD}@127.0.0.1:{port}/kg")
        by_env = job.run(
            "-v",
            config=config,
            env={
                "KNOWLEDGE_GRAPH_HOST": "127.0.0.1",
                "KNOWLEDGE_GRAPH_PORT": str(port),
                "KNOWLEDGE_GRAPH_USER": "thoth",
                "KNOWLEDGE_GRAPH_PASSWORD": DB_PASSWORD,
                "KNOWLEDGE_GRAPH_DATABASE": "kg",
            },
        )
        # A run that works: the password is in the URL the job logs ("Using database ...") and reports.
        parts = kg.url.split("@", 1)
        working = job.run("-v", config=config, database_url=f"{parts[0]}{DB_PASSWORD}@{parts[1]}")

        assert by_url.code == by_env.code == 1, (by_url, by_env)
        assert working.code == 0, working
        assert_never_shown(DB_PASSWORD, by_url, by_env, working)
        assert_rows_complete(kg, index)


def test_index_url_password_registered_in_the_graph_is_used_and_never_shown(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(3)) as index:
        credentialed = f"http://reader:{INDEX_PASSWORD}@127.0.0.1:{index.port}/simple"
        # Config files reject credentials: only the graph can hold such a URL.
        kg.add_index(credentialed, only_if_package_seen=False)
        config_path.write_text("packages: {}\n", encoding="utf-8")
        index.fail("pkg-001", 500, times=None)
        index.malformed("pkg-002", "json", times=None)

        partly = job.run("-v", config=str(config_path), database_url=kg.url)
        index.clear_faults()
        index.down()
        down = job.run("-v", config=str(config_path), database_url=kg.url)
        index.up()
        clean = job.run("-v", config=str(config_path), database_url=kg.url)

        assert partly.code == 0, partly
        assert clean.code == 0, clean
        assert down.code == 1, down
        expected_auth = "Basic " + base64.b64encode(f"reader:{INDEX_PASSWORD}".encode()).decode()
        assert {r.headers.get("Authorization") for r in index.requests} == {expected_auth}
        assert set(kg.rows(credentialed)) == normalized_model(index.projects())
        assert_never_shown(INDEX_PASSWORD, partly, down, clean)


def test_trigger_secrets_in_headers_and_url_are_sent_but_never_shown(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer({"hooked": ["1.0"]}) as index, WebhookReceiver(default_status=401) as receiver:
        receiver.respond_with([500])  # retried, then 401
        trigger = {
            "url": f"{receiver.url}/hook/{{package_name}}?token={{THOTH_TRIGGER_FAULTS_WEBHOOK_TOKEN}}",
            "headers": {
                "Authorization": "Bearer {THOTH_TRIGGER_FAULTS_WEBHOOK_TOKEN}",
                "X-Api-Key": "{THOTH_TRIGGER_FAULTS_WEBHOOK_TOKEN}",
            },
        }
        config = write_config(config_path, index.base_url, packages={"hooked": [trigger]})

        result = job.run(
            "-v", config=config, database_url=kg.url, env={"THOTH_TRIGGER_FAULTS_WEBHOOK_TOKEN": WEBHOOK_TOKEN}
        )

        assert result.code == 0, result
        assert len(receiver.requests) == 2
        for request in receiver.requests:
            assert request.headers["Authorization"] == f"Bearer {WEBHOOK_TOKEN}"
            assert request.headers["X-Api-Key"] == WEBHOOK_TOKEN
            assert request.path == f"/hook/hooked?token={WEBHOOK_TOKEN}"
        assert "HTTP 401" in result.stderr, result
        assert_never_shown(WEBHOOK_TOKEN, result)
        assert_rows_complete(kg, index)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://thoth:{DB_PASSWORD}@[::1/kg",  # an unclosed IPv6 bracket
        f"mysql://thoth:{DB_PASSWORD}@127.0.0.1/kg",  # not a PostgreSQL URL
    ],
    ids=["unclosed-bracket", "wrong-scheme"],
)
def test_malformed_database_url_is_one_line_with_the_password_masked(
    job: Job, kg: KnowledgeGraph, config_path: Path, url: str
) -> None:
    with IndexServer(projects(2)) as index:
        config = write_config(config_path, index.base_url)

        result = job.run(config=config, database_url=url)

        assert index.requests == []
        assert "Traceback" not in result.stderr, result
        assert result.code in (1, 2), result
        assert len(result.error_lines) == 1, result
        assert result.report_text is not None, "the report is written whatever the outcome"
        assert_never_shown(DB_PASSWORD, result)


CONFIG_PASSWORD = "Cfg-Pa55-5eed-08"  # a literal password written in the configuration file


@pytest.mark.parametrize(
    ("key_path", "document"),
    [
        ("indexes[0].url", {"indexes": [{"url": f"http://reader:{CONFIG_PASSWORD}@127.0.0.1:9/simple"}]}),
        ("feeds[0].url", {"feeds": [{"url": f"http://reader:{CONFIG_PASSWORD}@127.0.0.1:9/rss.xml"}]}),
        pytest.param(
            "packages.click.triggers[0].url",
            {"packages": {"click": {"triggers": [{"url": f"http://hook:{CONFIG_PASSWORD}@127.0.0.1:9/x"}]}}},
            id="trigger",
        ),
    ],
    ids=["index", "feed", "trigger"],
)
def test_credentials_written_in_configuration_urls_are_rejected_and_not_shown(
    job: Job, kg: KnowledgeGraph, config_path: Path, key_path: str, document: dict[str, object]
) -> None:
    config_path.write_text(yaml.safe_dump(document), encoding="utf-8")

    result = job.run(config=str(config_path), database_url=kg.url)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert f": {key_path}: " in line, line
    assert "credentials must not be written in the configuration" in line, line
    assert_never_shown(CONFIG_PASSWORD, result)
    assert kg.index_urls() == []


# -- TLS ------------------------------------------------------------------------------------------------------


def test_index_tls_is_verified_by_default(
    job: Job, kg: KnowledgeGraph, config_path: Path, self_signed: Certificate
) -> None:
    with TLSIndexServer(projects(2), certificate=self_signed) as tls, IndexServer(projects(2)) as plain:
        config = write_config(config_path, tls.base_url, plain.base_url)

        result = job.run(config=config, database_url=kg.url)

        assert result.code == 0, result
        error = result.index(tls.base_url)["error"]
        assert "CERTIFICATE_VERIFY_FAILED" in (error or ""), result
        assert tls.requests == [], "no request may go over a connection whose certificate was not verified"
        assert TLS_OFF_WARNING not in result.stderr
        assert kg.rows(tls.base_url) == []
        assert_rows_complete(kg, plain)


def test_index_verify_ssl_false_works_and_warns_once(
    job: Job, kg: KnowledgeGraph, config_path: Path, self_signed: Certificate
) -> None:
    with TLSIndexServer(projects(6), certificate=self_signed) as tls:
        config = write_config(config_path, tls.base_url, verify_ssl=False)

        result = job.run("--chunk-size", "2", config=config, database_url=kg.url)

        assert result.code == 0, result
        assert_rows_complete(kg, tls)
        assert result.stderr.count(TLS_OFF_WARNING) == 1, result


def test_trigger_tls_is_verified_unless_tls_verify_false_which_warns_once(
    job: Job, kg: KnowledgeGraph, config_path: Path, self_signed: Certificate
) -> None:
    with (
        IndexServer({"unverified-a": ["1.0", "2.0"], "unverified-b": ["1.0"], "verified": ["1.0"]}) as index,
        TLSWebhookReceiver(certificate=self_signed) as lax,
        TLSWebhookReceiver(certificate=self_signed) as strict,
    ):
        unverified = {"url": f"{lax.url}/hook", "tls_verify": False}
        config = write_config(
            config_path,
            index.base_url,
            packages={"unverified-a": [unverified], "unverified-b": [unverified], "verified": [{"url": strict.url}]},
        )

        result = job.run("--notification-attempts", "1", config=config, database_url=kg.url)

        assert result.code == 0, result
        assert_rows_complete(kg, index)
        assert len(lax.requests) == 3
        assert strict.requests == [], "the self-signed certificate must be refused"
        assert result.report["notifications"] == {"sent": 3, "failed": 1, "pending": 0, "dead": 1}
        assert "CERTIFICATE_VERIFY_FAILED" in result.stderr or "certificate verify failed" in result.stderr, result
        assert result.stderr.count(TLS_OFF_WARNING) == 1, result


# -- configuration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        '!!python/object/apply:os.system ["touch {marker}"]\n',
        'indexes: !!python/object/apply:os.system ["touch {marker}"]\n',
        'packages:\n  click: !!python/object/new:subprocess.Popen [["touch", "{marker}"]]\n',
    ],
    ids=["top-level", "nested", "popen"],
)
def test_yaml_is_loaded_safely_nothing_is_executed(job: Job, kg: KnowledgeGraph, tmp_path: Path, document: str) -> None:
    marker = tmp_path / "executed"
    config = tmp_path / "thoth.yaml"
    config.write_text(document.format(marker=marker), encoding="utf-8")

    result = job.run(config=str(config), database_url=kg.url)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert str(config) in line, line
    assert "invalid YAML" in line, line
    assert not marker.exists(), "the YAML document ran a command"
    assert kg.index_urls() == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_remote_configuration_over_the_size_limit_is_rejected(job: Job, kg: KnowledgeGraph, framing: str) -> None:
    with FeedServer() as documents, IndexServer() as index:
        if framing == "content-length":
            body = b"# " + b"x" * (1024 * 1024) + b"\nindexes: []\n"
            documents.set("/thoth.yaml", body, content_type="application/yaml")
            url = documents.url_for("thoth.yaml")
        else:  # no Content-Length: the limit must hold while streaming
            index.oversize(LISTING, 3 * 1024 * 1024, chunked=True)
            url = f"{index.base_url}/"

        result = job.run("--allow-insecure-config", config=url, database_url=kg.url)

        assert result.code == 2, result
        (line,) = result.error_lines
        assert url in line, line
        assert "larger than 1048576 bytes" in line, line
        assert kg.index_urls() == []


@pytest.mark.parametrize(
    ("where", "template"),
    [
        ("url", "http://127.0.0.1:9/{package_name.__class__}"),
        ("url", "http://127.0.0.1:9/{package_name.__class__.__init__.__globals__}"),
        ("url", "http://127.0.0.1:9/{0}"),
        ("url", "http://127.0.0.1:9/{}"),
        ("url", "http://127.0.0.1:9/{package_name[0]}"),
        ("url", "http://127.0.0.1:9/{package_name!r}"),
        ("url", "http://127.0.0.1:9/{package_name:>99999}"),
        ("headers", "{PATH.__len__}"),
        ("payload", "{index_url.__class__.__mro__}"),
    ],
)
def test_templates_reach_only_release_fields_and_environment_variables(
    job: Job, kg: KnowledgeGraph, config_path: Path, where: str, template: str
) -> None:
    trigger: dict[str, object] = {"url": "http://127.0.0.1:9/hook"}
    if where == "url":
        trigger["url"] = template
    elif where == "headers":
        trigger["headers"] = {"X-Probe": template}
    else:
        trigger["payload"] = {"probe": template}
    document = {"packages": {"click": {"triggers": [trigger]}}}
    config_path.write_text(yaml.safe_dump(document), encoding="utf-8")

    result = job.run(config=str(config_path), database_url=kg.url)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert "packages.click.triggers[0]." + where in line, line
    assert "forbidden placeholder" in line, line
    assert kg.index_urls() == []


# -- private index credentials from ~/.netrc ------------------------------------------------------------------


def test_netrc_credentials_are_sent_to_the_index_and_never_shown(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    netrc = job.home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin reader\npassword {NETRC_PASSWORD}\n", encoding="utf-8")
    netrc.chmod(0o600)
    with IndexServer(projects(3)) as index:
        index.fail("pkg-001", 401, times=1)
        index.fail("pkg-002", 503, times=None)
        config = write_config(config_path, index.base_url)

        result = job.run("-v", config=config, database_url=kg.url)
        index.clear_faults()
        rerun = job.run("-v", config=config, database_url=kg.url)

        assert result.code == 0, result
        assert rerun.code == 0, rerun
        expected = "Basic " + base64.b64encode(f"reader:{NETRC_PASSWORD}".encode()).decode()
        assert index.requests
        assert {r.headers.get("Authorization") for r in index.requests} == {expected}
        assert_never_shown(NETRC_PASSWORD, result, rerun)
        assert_rows_complete(kg, index)


# -- nothing written outside the database and --data-dir ------------------------------------------------------


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
    }


def test_the_job_writes_nothing_outside_its_database_and_data_dir(job: Job, kg: KnowledgeGraph, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "existing.txt").write_text("untouched\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    with IndexServer(projects(3)) as index:
        config = write_config(outside / "thoth.yaml", index.base_url)
        before = {folder: snapshot(folder) for folder in (cwd, job.home, outside)}
        os.chmod(cwd, 0o555)  # read-only-ish (root ignores it: the snapshot is the real check)
        try:
            result = job.run(config=config, database_url=kg.url, cwd=cwd, report=False, data_dir=False)
        finally:
            os.chmod(cwd, 0o755)

        assert result.code == 0, result
        assert_rows_complete(kg, index)
        assert {folder: snapshot(folder) for folder in (cwd, job.home, outside)} == before
        assert not (cwd / ".thoth-data").exists(), "--data-dir is only for the embedded database"
