"""End-to-end checks of app.py's command line: bad configuration and usage, --version, --help, env vars, reports."""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import click
import pytest

from tests.e2e.conftest import App, KnowledgeGraph, WriteConfig, index_config, summary_line
from tests.support.servers import IndexServer
from thoth.package_releases import __version__
from thoth.package_releases.cli import main

pytestmark = pytest.mark.e2e

ENV_PREFIX = "THOTH_PACKAGE_RELEASES_"


# -- bad configuration -------------------------------------------------------------------------------------

# (configuration text, {url} standing for the local index, or None for a missing file; the expected key path and
# reason; whether the index is registered in the graph beforehand, as the legacy format, which has none, needs)
BAD_CONFIGURATIONS = [
    pytest.param(None, "cannot read the configuration: No such file or directory", False, id="missing-file"),
    pytest.param(
        "indexes:\n  - url: {url}\n    enabled: [true\npackages:\n  click: {{}}\n",
        "line 4, column 9: invalid YAML: expected ',' or ']', but got ':'",
        False,
        id="yaml-syntax-error",
    ),
    pytest.param(
        "indexes:\n  - url: {url}\n    verify: false\npackages:\n  click: {{}}\n",
        "indexes[0].verify: unknown key;"
        " allowed keys: url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen",
        False,
        id="unknown-key",
    ),
    pytest.param(
        "indexes:\n  - url: {url}\n  - url: {url}/other\n    verify_ssl: 'yes'\npackages:\n  click: {{}}\n",
        "indexes[1].verify_ssl: expected a boolean (true or false), got 'yes' (string)",
        False,
        id="wrong-type",
    ),
    pytest.param(
        "indexes:\n  - url: {url}\npackages: [click]\n",
        "packages: expected a mapping of package names, got list",
        False,
        id="wrong-type-section",
    ),
    pytest.param(
        "indexes:\n  - url: {url}\n  - url: ftp://127.0.0.1/simple\npackages:\n  click: {{}}\n",
        "indexes[1].url: expected an http(s) URL, got 'ftp://127.0.0.1/simple'",
        False,
        id="bad-url",
    ),
    pytest.param(
        "click:\n  triggers:\n    - url: http://127.0.0.1:9/hook/{{THOTH_TRIGGER_E2E_UNSET_RELEASE_TOKEN}}/{{package_version}}\n",
        "click.triggers[0].url: unknown placeholder {THOTH_TRIGGER_E2E_UNSET_RELEASE_TOKEN} in"
        " 'http://127.0.0.1:9/hook/{THOTH_TRIGGER_E2E_UNSET_RELEASE_TOKEN}/{package_version}': neither a release field"
        " (event, index_url, package_name, package_version) nor a set environment variable",
        True,
        id="legacy-bad-trigger-placeholder",
    ),
]


@pytest.mark.parametrize(("text", "problem", "preregister"), BAD_CONFIGURATIONS)
def test_bad_configuration_exits_2_with_one_line_and_writes_nothing(
    app: App,
    kg: KnowledgeGraph,
    write_config: WriteConfig,
    json_index: IndexServer,
    text: str | None,
    problem: str,
    preregister: bool,
    tmp_path: Path,
) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["8.0"])
    if preregister:
        kg.add_index(url)
    path = write_config(text.format(url=url)) if text is not None else str(tmp_path / "missing.yaml")

    result = app("--config", path, database_url=kg.url)

    assert result.code == 2, result
    assert len(result.error_lines) == 1, result
    (line,) = result.error_lines
    assert line == f"error: bad configuration: {path}: {problem}"
    assert result.stdout == ""
    assert result.report_text is None  # nothing is written, not even the report
    assert kg.indexes() == ([(url, True, True)] if preregister else [])
    assert kg.entities() == []
    assert kg.count("thoth_package_releases.run") == 0
    assert json_index.requests == []


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--shard-index", "1", "--shard-count", "1"), id="shard-index-out-of-range"),
        pytest.param(("--concurrency", "0"), id="concurrency-zero"),
        pytest.param(("--no-such-option",), id="unknown-option"),
    ],
)
def test_bad_usage_exits_2_and_writes_nothing(
    app: App, kg: KnowledgeGraph, json_index: IndexServer, click_config: str, args: tuple[str, ...]
) -> None:
    result = app("--config", click_config, *args, database_url=kg.url)

    assert result.code == 2, result
    assert "Error: " in result.stderr, result
    assert result.report_text is None
    assert kg.indexes() == []
    assert kg.entities() == []
    assert json_index.requests == []


# -- --version, --help, environment variables --------------------------------------------------------------


def test_version_prints_the_job_thoth_storages_and_thoth_common_versions(app: App) -> None:
    result = app("--version", database_url=None, report=False)

    assert result.code == 0, result
    assert result.stdout == (
        f"thoth-package-releases {__version__}\n"
        f"thoth-storages {version('thoth-storages')}\n"
        f"thoth-common {version('thoth-common')}\n"
    )


def _options() -> list[click.Option]:
    """The command's options that take a value or a flag (not --help/--version)."""
    return [p for p in main.params if isinstance(p, click.Option) and p.expose_value]


def test_help_names_every_options_environment_variable(app: App) -> None:
    result = app("--help", database_url=None, report=False, env={"COLUMNS": "200"})

    assert result.code == 0, result
    text = result.stdout
    # Each option's entry starts on a line "  -..." with its flags, followed by its (wrapped) help.
    entries = {}
    for entry in re.split(r"\n(?=  -)", text):
        flags = re.split(r"\s{2,}|\n", entry.strip())[0]
        for flag in flags.replace(",", " ").split():
            entries[flag] = " ".join(entry.split())
    options = _options()
    assert len(options) >= 19  # the options the job had when these tests were written, at least
    for option in options:
        envvars = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or [])
        assert envvars, f"{option.name} has no environment variable"
        assert envvars[0].startswith(ENV_PREFIX), envvars
        entry = entries.get(option.opts[-1])
        assert entry is not None, f"no help entry for {option.opts}\n{text}"
        assert f"env var: {', '.join(envvars)}" in entry, f"{option.opts}: {entry}"
    for name in (
        "CONFIG",
        "DATABASE_URL",
        "DATA_DIR",
        "INIT_SCHEMA",
        "ONLY_IF_PACKAGE_SEEN",
        "DRY_RUN",
        "REPORT",
        "CONCURRENCY",
        "TIMEOUT",
        "CHUNK_SIZE",
        "DEADLINE",
        "SHARD_INDEX",
        "SHARD_COUNT",
        "VERBOSE",
    ):
        assert f"env var: {ENV_PREFIX}{name}" in " ".join(text.split()), name


def test_help_at_80_columns_keeps_environment_variable_names_whole(app: App) -> None:
    result = app("--help", database_url=None, report=False, env={"COLUMNS": "80"})

    assert result.code == 0, result
    shown = set(re.findall(r"THOTH_PACKAGE_RELEASES_[A-Z_]+", result.stdout))
    for option in _options():
        envvars = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or [])
        assert envvars[0] in shown, f"{envvars[0]} is not shown whole in\n{result.stdout}"


def test_options_are_read_from_environment_variables(
    app: App, kg: KnowledgeGraph, json_index: IndexServer, click_config: str
) -> None:
    url = json_index.base_url

    result = app(
        database_url=None,
        env={
            f"{ENV_PREFIX}CONFIG": click_config,
            f"{ENV_PREFIX}DATABASE_URL": kg.url,
            f"{ENV_PREFIX}DRY_RUN": "1",
        },
    )

    assert result.code == 0, result
    assert result.report is not None
    assert result.report["dry_run"] is True
    assert result.new_releases == [("click", "8.0", url)]
    assert summary_line(checked=1, indexes=1, new=1, dry_run=True).fullmatch(result.summary), result
    assert "(from --database-url)" in result.stderr
    assert kg.indexes() == []
    assert kg.entities() == []


# -- the JSON report -------------------------------------------------------------------------------------


def test_report_on_standard_output_is_the_documented_json(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer
) -> None:
    url = json_index.base_url
    json_index.add_project("click", ["8.0", "not-a-version"])
    config = write_config(index_config(url, packages=["click", "ghost"]))

    result = app("--config", config, "--report", "-", database_url=kg.url, report=False)

    assert result.code == 0, result
    report = json.loads(result.stdout)  # standard output holds the report and nothing else
    assert {"started_at", "finished_at", "dry_run", "indexes", "new_releases", "errors"} <= set(report)
    started = datetime.fromisoformat(report["started_at"])
    finished = datetime.fromisoformat(report["finished_at"])
    assert started.tzinfo is not None
    assert started <= finished
    assert report["dry_run"] is False
    assert len(report["indexes"]) == 1
    index = report["indexes"][0]
    assert {"url", "packages_checked", "not_found", "failed", "new_releases"} <= set(index)
    assert (index["url"], index["packages_checked"], index["not_found"], index["failed"], index["new_releases"]) == (
        url,
        2,
        1,
        0,
        1,
    )
    assert report["new_releases"] == [{"package_name": "click", "package_version": "8.0", "index_url": url}]
    assert report["errors"] == []
    assert index["invalid_versions_listed"] == [{"package_name": "click", "version": "not-a-version"}]
    # The human summary still goes to standard error.
    assert summary_line(checked=2, indexes=1, new=1).fullmatch(
        next(line for line in result.stderr.splitlines() if line.startswith("Package releases"))
    ), result


# -- migrate-only: the one-off step of a new deployment ------------------------------------------------------

MIGRATE_ONLY = ("--init-schema", "--no-feeds", "--no-scan")


def test_migrate_only_migrates_registers_the_indexes_prints_what_it_did_and_exits_0(
    app: App, json_index: IndexServer, click_config: str, empty_database: str
) -> None:
    url = json_index.base_url
    kg = KnowledgeGraph(empty_database)

    migrated = app("--config", click_config, *MIGRATE_ONLY, database_url=empty_database)

    assert migrated.code == 0, migrated
    assert re.search(r"^Migrated database '\w+' on .+: thoth-storages schema at revision \w+", migrated.stderr, re.M)
    assert f"Registered 1 new index(es): {url}." in migrated.stderr, migrated
    assert not any(line.startswith("Package releases") for line in migrated.stderr.splitlines()), migrated
    assert kg.table_exists("python_package_version_entity")
    assert kg.table_exists("thoth_package_releases.run")
    assert kg.indexes() == [(url, True, True)]
    assert kg.entities() == []
    assert kg.count("thoth_package_releases.run") == 0  # a migration is not a run of the job
    assert json_index.requests == []

    again = app("--config", click_config, *MIGRATE_ONLY, database_url=empty_database)

    assert again.code == 0, again
    assert "Registered no new index (1 configured, all already registered)." in again.stderr, again
    assert kg.indexes() == [(url, True, True)]

    run = app("--config", click_config, database_url=empty_database)  # the CronJobs pass no --init-schema

    assert run.code == 0, run
    assert run.new_releases == [("click", "8.0", url)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--no-feeds", "--no-scan"), "leave nothing to do", id="without-init-schema"),
        pytest.param((*MIGRATE_ONLY, "--dry-run"), "--dry-run leaves nothing to do", id="migrate-only-dry-run"),
    ],
)
def test_no_feeds_and_no_scan_is_refused_unless_it_is_a_migration(
    app: App, empty_database: str, json_index: IndexServer, click_config: str, args: tuple[str, ...], message: str
) -> None:
    kg = KnowledgeGraph(empty_database)

    result = app("--config", click_config, *args, database_url=empty_database)

    assert result.code == 2, result
    assert message in result.stderr, result
    assert result.report_text is None
    assert not kg.table_exists("python_package_version_entity")
    assert json_index.requests == []
