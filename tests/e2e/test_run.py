"""End-to-end runs of app.py: local package indexes, a fresh knowledge graph, exact rows and reports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import App, KnowledgeGraph, WriteConfig, index_config, summary_line
from tests.support.postgres import PostgresForTests, with_database
from tests.support.servers import FeedServer, IndexServer, WebhookReceiver

pytestmark = pytest.mark.e2e


def counts(result_index: dict[str, object], *keys: str) -> dict[str, object]:
    return {key: result_index[key] for key in keys}


INDEX_COUNTS = ("packages_checked", "not_modified", "not_found", "failed", "invalid_versions", "new_releases", "error")


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


# -- first run, normalization, counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formats", "rc_published"),
    [
        pytest.param(("json", "html"), "1.0.0-RC1", id="pep691-json"),
        # HTML versions come from file names; the test server names wheels with the raw version, so a version
        # with a hyphen would make an invalid wheel name. "1.0.0.RC1" normalizes to the same 1.0.0rc1.
        pytest.param(("html",), "1.0.0.RC1", id="pep503-html-only"),
    ],
)
def test_first_run_inserts_monitored_and_known_projects(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, formats: tuple[str, ...], rc_published: str
) -> None:
    projects = {
        "Thoth_Storages": ["0.9.0", rc_published],
        "click": ["7.0", "8.0"],
        "Zope.Interface": ["5.0", "5.1"],
        "unrelated": ["1.0"],
    }
    with IndexServer(projects, formats=formats) as index:
        url = index.base_url
        kg.add_entity("zope-interface", "4.0")  # known to Thoth, recorded on no index
        config = write_config(index_config(url, packages=["Thoth.Storages", "Click"]))

        result = app("--config", config, database_url=kg.url)

        assert result.code == 0, result
        assert kg.indexes() == [(url, True, True)]
        assert kg.entities() == [
            ("click", "7.0", url),
            ("click", "8.0", url),
            ("thoth-storages", "0.9.0", url),
            ("thoth-storages", "1.0.0rc1", url),
            ("zope-interface", "4.0", None),
            ("zope-interface", "5.0", url),
            ("zope-interface", "5.1", url),
        ]
        assert result.new_releases == [
            ("click", "7.0", url),
            ("click", "8.0", url),
            ("thoth-storages", "0.9.0", url),
            ("thoth-storages", "1.0.0rc1", url),
            ("zope-interface", "5.0", url),
            ("zope-interface", "5.1", url),
        ]
        assert counts(result.index(url), *INDEX_COUNTS) == {
            "packages_checked": 3,
            "not_modified": 0,
            "not_found": 0,
            "failed": 0,
            "invalid_versions": 0,
            "new_releases": 6,
            "error": None,
        }
        assert result.errors == []
        assert summary_line(checked=3, indexes=1, new=6).fullmatch(result.summary), result
        assert f"  index {url}: 3 checked, 0 unchanged, 0 not on the index, 0 failed, 6 new\n" in result.stderr
        assert f"  + thoth-storages 1.0.0rc1 ({url})\n" in result.stderr
        # "unrelated" is neither known nor monitored: its page is never asked for, nor is the listing.
        assert sorted(r.path for r in index.requests) == [
            "/simple/click/",
            "/simple/thoth-storages/",
            "/simple/zope-interface/",
        ]


def test_monitored_project_missing_from_the_index_is_not_found_not_an_error(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["8.0"])
    config = write_config(index_config(url, packages=["click", "ghost-project"]))

    result = app("--config", config, database_url=kg.url)

    assert result.code == 0, result
    assert kg.entities() == [("click", "8.0", url)]
    assert result.new_releases == [("click", "8.0", url)]
    assert counts(result.index(url), *INDEX_COUNTS) == {
        "packages_checked": 2,
        "not_modified": 0,
        "not_found": 1,
        "failed": 0,
        "invalid_versions": 0,
        "new_releases": 1,
        "error": None,
    }
    assert result.errors == []
    assert f"  index {url}: 2 checked, 0 unchanged, 1 not on the index, 0 failed, 1 new\n" in result.stderr


@pytest.mark.parametrize(
    ("formats", "invalid"),
    [
        pytest.param(("json", "html"), "not-a-version", id="pep691-json"),
        # A legacy (pre-PEP 440) version such as pytz's old ones; both files of the release name it.
        pytest.param(("html",), "2004d", id="pep503-html-legacy"),
    ],
)
def test_unparsable_version_is_skipped_and_listed_not_an_error(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, formats: tuple[str, ...], invalid: str
) -> None:
    with IndexServer({"pytz": ["2023.3", invalid, "2024.1"], "click": ["8.0"]}, formats=formats) as index:
        url = index.base_url
        config = write_config(index_config(url, packages=["pytz", "click"]))

        result = app("--config", config, database_url=kg.url)

        assert result.code == 0, result
        assert kg.entities() == [("click", "8.0", url), ("pytz", "2023.3", url), ("pytz", "2024.1", url)]
        assert result.new_releases == [("click", "8.0", url), ("pytz", "2023.3", url), ("pytz", "2024.1", url)]
        assert result.errors == []  # an error on every run otherwise (issue 11 defect 5)
        assert result.index(url)["invalid_versions_listed"] == [{"package_name": "pytz", "version": invalid}]
        assert counts(result.index(url), *INDEX_COUNTS) == {
            "packages_checked": 2,
            "not_modified": 0,
            "not_found": 0,
            "failed": 0,
            "invalid_versions": 1,
            "new_releases": 3,
            "error": None,
        }
        assert (
            f"  index {url}: 2 checked, 0 unchanged, 0 not on the index, 0 failed, 3 new, 1 invalid versions skipped\n"
            in result.stderr
        )


# -- successive runs ---------------------------------------------------------------------------------------


def test_second_run_inserts_nothing_and_a_release_published_between_runs_is_the_only_new_row(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["7.0", "8.0"])
    json_index.add_project("flask", ["2.0"])
    config = write_config(index_config(url, packages=["click", "flask"]))

    first = app("--config", config, database_url=kg.url)
    assert first.code == 0, first
    assert len(first.new_releases) == 3

    second = app("--config", config, database_url=kg.url)
    assert second.code == 0, second
    assert second.new_releases == []
    assert summary_line(checked=2, indexes=1, new=0).fullmatch(second.summary), second
    # Both pages were asked for again, conditionally, and had not changed.
    assert counts(second.index(url), *INDEX_COUNTS) == {
        "packages_checked": 2,
        "not_modified": 2,
        "not_found": 0,
        "failed": 0,
        "invalid_versions": 0,
        "new_releases": 0,
        "error": None,
    }
    assert f"  index {url}: 2 checked, 2 unchanged, 0 not on the index, 0 failed, 0 new\n" in second.stderr
    assert kg.entities() == [("click", "7.0", url), ("click", "8.0", url), ("flask", "2.0", url)]

    json_index.publish("click", "8.1")
    third = app("--config", config, database_url=kg.url)
    assert third.code == 0, third
    assert third.new_releases == [("click", "8.1", url)]
    assert summary_line(checked=2, indexes=1, new=1).fullmatch(third.summary), third
    assert kg.entities() == [
        ("click", "7.0", url),
        ("click", "8.0", url),
        ("click", "8.1", url),
        ("flask", "2.0", url),
    ]


def test_index_not_limited_to_seen_packages_checks_every_listed_project_until_the_flag_forces_known_only(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    json_index.add_project("Alpha", ["1.0"])
    json_index.add_project("beta", ["0.1", "0.2"])
    config = write_config(index_config(url, only_if_package_seen=False, packages=["gamma"]))

    first = app("--config", config, database_url=kg.url)

    assert first.code == 0, first
    assert kg.indexes() == [(url, True, False)]
    assert kg.entities() == [("alpha", "1.0", url), ("beta", "0.1", url), ("beta", "0.2", url)]
    assert first.new_releases == [("alpha", "1.0", url), ("beta", "0.1", url), ("beta", "0.2", url)]
    # Every listed project plus the monitored one, which the index does not have.
    assert counts(first.index(url), "packages_checked", "not_found", "new_releases") == {
        "packages_checked": 3,
        "not_found": 1,
        "new_releases": 3,
    }
    assert "/simple/" in [r.path for r in json_index.requests]

    # Known-only, whatever the index row says: a project new on the index is not looked at, known ones are.
    json_index.add_project("delta", ["3.0"])
    json_index.publish("alpha", "1.1")
    json_index.clear_requests()
    second = app("--config", config, "--only-if-package-seen", database_url=kg.url)

    assert second.code == 0, second
    assert second.new_releases == [("alpha", "1.1", url)]
    assert kg.entities() == [
        ("alpha", "1.0", url),
        ("alpha", "1.1", url),
        ("beta", "0.1", url),
        ("beta", "0.2", url),
    ]
    assert sorted(r.path for r in json_index.requests) == ["/simple/alpha/", "/simple/beta/", "/simple/gamma/"]
    assert second.index(url)["packages_checked"] == 3


# -- dry run -----------------------------------------------------------------------------------------------


def test_dry_run_reports_what_would_be_inserted_and_writes_nothing(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer, webhook: WebhookReceiver
) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["8.0"])
    json_index.add_project("six", ["1.16.0"])
    kg.add_entity("six", "1.15.0")
    config = write_config(
        f"indexes:\n  - url: {url}\n"
        f"packages:\n  click:\n    triggers:\n      - url: {webhook.url}/hook/{{package_version}}\n"
    )

    result = app("--config", config, "--dry-run", database_url=kg.url)

    assert result.code == 0, result
    assert result.report is not None
    assert result.report["dry_run"] is True
    assert result.new_releases == [("click", "8.0", url), ("six", "1.16.0", url)]
    assert result.index(url)["packages_checked"] == 2
    assert summary_line(checked=2, indexes=1, new=2, dry_run=True).fullmatch(result.summary), result
    assert kg.indexes() == []
    assert kg.entities() == [("six", "1.15.0", None)]
    assert kg.count("thoth_package_releases.page_state") == 0
    assert kg.count("thoth_package_releases.outbox") == 0
    assert kg.count("thoth_package_releases.run") == 0
    assert webhook.requests == []  # a dry run sends nothing


# -- entity rules ------------------------------------------------------------------------------------------


def test_entity_rules_are_attached_only_to_matching_new_rows(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    json_index.add_project("tensorflow", ["1.14.0", "1.15.0", "2.1.0", "2.2.0rc1"])
    index_id = kg.add_index(url)
    other_id = kg.add_index("https://other.example/simple", enabled=False)
    kg.add_entity("tensorflow", "1.14.0", index_id)  # already recorded: matches a rule but is not new
    below_2 = kg.add_rule("tensorflow", "<2.0")
    from_2_here = kg.add_rule("tensorflow", ">=2.0", index_id)
    kg.add_rule("tensorflow", None, other_id)  # another index's rule
    kg.add_rule("tensorflow", ">=3")  # matches no version
    kg.add_rule("click", None)  # another package
    invalid = kg.add_rule("tensorflow", "two or more")  # no specifier: attached to nothing, warned of once
    config = write_config(index_config(url, packages=["tensorflow"]))

    result = app("--config", config, database_url=kg.url)

    assert result.code == 0, result
    assert result.report["invalid_rules"] == [
        {"id": invalid, "package_name": "tensorflow", "version_range": "two or more", "index_id": None}
    ]
    assert len(result.lines_with(f"Entity rule {invalid} of tensorflow: version_range 'two or more'")) == 1
    assert result.report["errors"] == []
    assert result.new_releases == [
        ("tensorflow", "1.15.0", url),
        ("tensorflow", "2.1.0", url),
        ("tensorflow", "2.2.0rc1", url),
    ]
    assert kg.rule_associations() == [
        ("tensorflow", "1.15.0", below_2),
        ("tensorflow", "2.1.0", from_2_here),
        ("tensorflow", "2.2.0rc1", from_2_here),
    ]


# -- where the configuration comes from --------------------------------------------------------------------


def test_configuration_served_over_http(app: App, kg: KnowledgeGraph, json_index: IndexServer) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["8.0"])
    with FeedServer() as server:
        config_url = server.set(
            "/config/thoth.yaml", index_config(url, packages=["click"]).encode(), "application/yaml"
        )

        result = app("--allow-insecure-config", "--config", config_url, database_url=kg.url)

    assert result.code == 0, result
    assert kg.entities() == [("click", "8.0", url)]
    assert result.new_releases == [("click", "8.0", url)]


def test_configuration_url_answering_404_is_bad_configuration(
    app: App, kg: KnowledgeGraph, json_index: IndexServer
) -> None:
    with FeedServer() as server:
        config_url = server.url_for("/config/missing.yaml")

        result = app("--allow-insecure-config", "--config", config_url, database_url=kg.url)

    assert result.code == 2, result
    assert result.error_lines == [
        f"error: bad configuration: {config_url}: cannot fetch the configuration: HTTP 404 Not Found"
    ]
    assert kg.indexes() == []
    assert kg.entities() == []


@pytest.mark.parametrize("option", ["-m", "--monitoring-config"])
def test_legacy_2019_configuration_is_accepted(
    app: App,
    kg: KnowledgeGraph,
    write_config: WriteConfig,
    json_index: IndexServer,
    webhook: WebhookReceiver,
    option: str,
) -> None:
    url = json_index.base_url
    json_index.add_project("tensorflow", ["2.0.0", "2.1.0"])
    json_index.add_project("Thoth-Storages", ["0.1.0"])
    json_index.add_project("click", ["8.0"])
    kg.add_index(url)  # the legacy format has no indexes: only those in the graph are checked
    config = write_config(
        "tensorflow:\n"
        "  triggers:\n"
        f"    - url: {webhook.url}/hook/{{package_name}}/{{package_version}}\n"
        "      tls_verify: false\n"
        "Thoth_Storages:\n"
        "  triggers: []\n"
    )

    result = app(option, config, database_url=kg.url)

    assert result.code == 0, result
    assert kg.indexes() == [(url, True, True)]
    assert kg.entities() == [
        ("tensorflow", "2.0.0", url),
        ("tensorflow", "2.1.0", url),
        ("thoth-storages", "0.1.0", url),
    ]
    assert result.new_releases == [
        ("tensorflow", "2.0.0", url),
        ("tensorflow", "2.1.0", url),
        ("thoth-storages", "0.1.0", url),
    ]
    # The trigger fired once per new tensorflow release, at the rendered URL.
    assert sorted((r.method, r.path) for r in webhook.requests) == [
        ("POST", "/hook/tensorflow/2.0.0"),
        ("POST", "/hook/tensorflow/2.1.0"),
    ]


# -- databases ---------------------------------------------------------------------------------------------


def test_unreachable_database_fails_with_one_line_naming_it_and_masks_the_password(
    app: App, write_config: WriteConfig, json_index: IndexServer
) -> None:
    config = write_config(index_config(json_index.base_url, packages=["click"]))

    result = app("--config", config, database_url="postgresql://u:secret@127.0.0.1:1/db")

    assert result.code == 1, result
    assert len(result.error_lines) == 1, result
    (line,) = result.error_lines
    assert line.startswith("error: cannot connect to database 'db' on 127.0.0.1:1: "), line
    assert "secret" not in result.stderr
    assert "secret" not in result.stdout
    assert result.report is not None
    assert "secret" not in str(result.report)
    assert "Traceback" not in result.stderr
    assert json_index.requests == []


def test_database_from_knowledge_graph_variables_is_named_and_its_password_masked(
    app: App, write_config: WriteConfig, json_index: IndexServer
) -> None:
    config = write_config(index_config(json_index.base_url, packages=["click"]))

    result = app(
        "--config",
        config,
        database_url=None,
        env={
            "KNOWLEDGE_GRAPH_HOST": "127.0.0.1",
            "KNOWLEDGE_GRAPH_PORT": "1",
            "KNOWLEDGE_GRAPH_USER": "thoth",
            "KNOWLEDGE_GRAPH_PASSWORD": "secret",
            "KNOWLEDGE_GRAPH_DATABASE": "knowledge",
        },
    )

    assert result.code == 1, result
    assert len(result.error_lines) == 1, result
    assert result.error_lines[0].startswith("error: cannot connect to database 'knowledge' on 127.0.0.1:1: "), result
    assert "secret" not in result.stderr
    assert "secret" not in result.stdout
    assert json_index.requests == []


def test_external_database_without_schema_is_refused_with_a_hint_to_init_schema(
    app: App, json_index: IndexServer, click_config: str, empty_database: str
) -> None:
    kg = KnowledgeGraph(empty_database)

    result = app("--config", click_config, database_url=empty_database)

    assert result.code == 1, result
    assert len(result.error_lines) == 1, result
    assert "has no thoth-storages schema" in result.error_lines[0]
    assert "--init-schema" in result.error_lines[0]
    assert result.report is not None
    assert "--init-schema" in result.report["failure"]
    assert not kg.table_exists("python_package_version_entity")
    assert not kg.table_exists("thoth_package_releases.run")
    assert json_index.requests == []


def test_a_database_migrated_only_by_thoth_storages_runs_at_once_and_gets_the_state_schema(
    app: App, json_index: IndexServer, click_config: str, storages_database_url: str
) -> None:
    url = json_index.base_url
    kg = KnowledgeGraph(storages_database_url)
    assert not kg.table_exists("thoth_package_releases.run")

    result = app("--config", click_config, database_url=storages_database_url)  # as a CronJob: no --init-schema

    assert result.code == 0, result
    assert result.new_releases == [("click", "8.0", url)]
    assert kg.entities() == [("click", "8.0", url)]
    assert kg.query("SELECT succeeded FROM thoth_package_releases.run") == [(True,)]
    assert kg.count("thoth_package_releases.page_state") == 1

    again = app("--config", click_config, database_url=storages_database_url)

    assert again.code == 0, again
    assert again.new_releases == []


def test_init_schema_migrates_an_empty_external_database_and_runs(
    app: App, json_index: IndexServer, click_config: str, empty_database: str
) -> None:
    url = json_index.base_url
    kg = KnowledgeGraph(empty_database)

    migrated = app("--config", click_config, "--init-schema", database_url=empty_database)

    assert migrated.code == 0, migrated
    assert migrated.new_releases == [("click", "8.0", url)]
    assert kg.indexes() == [(url, True, True)]
    assert kg.entities() == [("click", "8.0", url)]

    again = app("--config", click_config, database_url=empty_database)  # at head now: no --init-schema needed

    assert again.code == 0, again
    assert again.new_releases == []


def test_init_schema_creates_a_missing_database(
    app: App, json_index: IndexServer, click_config: str, postgres: PostgresForTests
) -> None:
    url = json_index.base_url
    missing = with_database(postgres.server_url, f"thoth_e2e_missing_{os.getpid()}")
    try:
        refused = app("--config", click_config, database_url=missing)

        assert refused.code == 1, refused
        assert len(refused.error_lines) == 1, refused
        assert "does not exist; run with --init-schema to create and migrate it" in refused.error_lines[0]
        assert json_index.requests == []

        created = app("--config", click_config, "--init-schema", database_url=missing)

        assert created.code == 0, created
        assert created.new_releases == [("click", "8.0", url)]
        assert KnowledgeGraph(missing).entities() == [("click", "8.0", url)]
    finally:
        postgres.drop_database(missing)


def test_embedded_database_by_default(app: App, json_index: IndexServer, click_config: str, tmp_path: Path) -> None:
    url = json_index.base_url
    data_dir = tmp_path / "data"

    first = app("--config", click_config, database_url=None, data_dir=data_dir)

    assert first.code == 0, first
    assert f"Using embedded PostgreSQL in {data_dir} (no --database-url or KNOWLEDGE_GRAPH_HOST given)" in first.stderr
    assert first.report is not None
    assert first.report["database"] == f"embedded PostgreSQL in {data_dir}"
    assert first.new_releases == [("click", "8.0", url)]
    assert (data_dir / "pgdata").is_dir()

    second = app("--config", click_config, database_url=None, data_dir=data_dir)

    assert second.code == 0, second
    assert f"Using embedded PostgreSQL in {data_dir} (no --database-url or KNOWLEDGE_GRAPH_HOST given)" in second.stderr
    assert second.new_releases == []
    assert summary_line(checked=1, indexes=1, new=0).fullmatch(second.summary), second


# -- failing indexes ---------------------------------------------------------------------------------------


def test_every_index_failed_exits_1_and_still_writes_the_report(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    port = json_index.port
    json_index.stop()
    config = write_config(index_config(url, only_if_package_seen=False, packages=["click"]))

    result = app("--config", config, database_url=kg.url)

    assert result.code == 1, result
    assert result.report is not None, result
    assert result.new_releases == []
    index = result.index(url)
    assert index["packages_checked"] == 0
    assert index["error"].startswith(f"project listing: connection refused by 127.0.0.1:{port} from "), index
    assert result.error_lines == [f"error: every index failed: {url}: {index['error']}"], result
    assert f"  index {url}: FAILED: {index['error']}\n" in result.stderr
    assert kg.entities() == []
