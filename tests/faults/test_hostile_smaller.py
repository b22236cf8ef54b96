"""Hostile servers and configurations, issue 10 ("Smaller"): listing names, --init-schema without privileges,
the --report path, control characters in configured URLs, NaN and Infinity in payloads."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.faults.conftest import Job, KnowledgeGraph
from tests.faults.hostile_fixtures import Serve, scan_config, write_yaml
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.graph import STATE
from tests.support.hostile import Index, Reply, Routes, any_project
from tests.support.postgres import PostgresForTests

pytestmark = pytest.mark.faults

PROJECTS = {"alpha": ["1.0", "1.1"], "beta": ["2.0"]}
ROWS = {(name, version) for name, versions in PROJECTS.items() for version in versions}
HOSTILE_NAMES = ["'; drop table x", "-/-/-/etc/passwd", "<script>", "foo?x=1#frag", "%2e%2e", "..", "a b", "é"]


# -- listing names ---------------------------------------------------------------------------------------------


def test_listing_names_that_are_not_project_names_are_neither_requested_nor_stored(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    # Whatever the job asks for, this index answers with a release: a name it should not have asked for shows.
    index = serve(Index(dict(PROJECTS), listed=[*PROJECTS, *HOSTILE_NAMES], fallback=any_project).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(index.paths) == {"/simple/", *(f"/simple/{name}/" for name in PROJECTS)}, index.paths
    assert {name for name, _, _ in kg.entities()} == set(PROJECTS)
    assert set(kg.rows(f"{index.url}/simple")) == ROWS


# -- --init-schema without privileges ------------------------------------------------------------------------------


@pytest.fixture
def unprivileged_url(postgres: PostgresForTests, kg: KnowledgeGraph) -> Iterator[str]:
    """The URL of an empty database, for a login role that may connect to it and do nothing else."""
    role = f"hostile_{secrets.token_hex(4)}"
    kg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'unprivileged'")
    empty = postgres.create_empty_database()
    parts = urlsplit(empty)
    netloc = f"{role}:unprivileged@{parts.netloc.rpartition('@')[2]}"
    yield urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    postgres.drop_database(empty)
    kg.execute(f"DROP ROLE IF EXISTS {role}")


def test_init_schema_as_a_role_without_privileges_is_one_line(
    job: Job, config_path: Path, serve: Serve, unprivileged_url: str
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run("--init-schema", config=config, database_url=unprivileged_url)

    assert result.code in (1, 2), result
    assert "Traceback" not in result.stderr, result
    assert len(result.error_lines) == 1, result
    assert result.report_text is not None, result
    assert index.requests == []


# -- --report --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
def test_bad_report_path_is_exit_2_before_any_work(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, tmp_path: Path, where: str
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")
    report = tmp_path / "no-such-folder" / "report.json" if where == "missing-folder" else tmp_path

    result = job.run("--report", str(report), config=config, database_url=kg.url, report=False)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert "--report" in line or str(report) in line, line
    assert index.requests == []
    assert kg.rows(f"{index.url}/simple") == []
    assert kg.count(f"{STATE}.run") == 0


def test_report_symlink_is_replaced_not_followed(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, tmp_path: Path
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    report = tmp_path / "report.json"
    report.symlink_to(victim)

    result = job.run("--report", str(report), config=config, database_url=kg.url, report=False)

    assert result.code == 0, result
    assert victim.read_text(encoding="utf-8") == "untouched\n"
    assert not report.is_symlink()
    assert json.loads(report.read_text(encoding="utf-8"))["succeeded"] is True


def test_report_path_is_written(job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, tmp_path: Path) -> None:
    """The control case of the --report tests: a plain path gets the report."""
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple")
    report = tmp_path / "report.json"

    result = job.run("--report", str(report), config=config, database_url=kg.url, report=False)

    assert result.code == 0, result
    assert json.loads(report.read_text(encoding="utf-8"))["succeeded"] is True


# -- configured URLs and payloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "character"),
    [("index", "\x00"), ("feed", "\x1b"), ("trigger", "\x08")],
    ids=["index-nul", "feed-escape", "trigger-backspace"],
)
def test_control_character_in_a_configured_url_is_exit_2(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, where: str, character: str
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: Reply(200, "OK")))
    index_url = f"{index.url}/simple"
    document: dict[str, object] = {"indexes": [{"url": index_url, "only_if_package_seen": False}]}
    if where == "index":
        document["indexes"] = [{"url": f"{index.url}/sim{character}ple", "only_if_package_seen": False}]
        key = "indexes[0].url"
    elif where == "feed":
        document["feeds"] = [{"url": f"{hook.url}/rss{character}.xml", "index_url": index_url}]
        key = "feeds[0].url"
    else:
        document["packages"] = {"alpha": {"triggers": [{"url": f"{hook.url}/ho{character}ok"}]}}
        key = "packages.alpha.triggers[0].url"
    config = write_yaml(config_path, document)

    result = job.run(config=config, database_url=kg.url)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert key in line, line
    assert character not in result.everything
    assert index.requests == []
    assert hook.requests == []
    assert kg.index_urls() == []


@pytest.mark.parametrize("value", [float("nan"), float("-inf")], ids=["nan", "-infinity"])
def test_nan_or_infinity_in_a_payload_is_exit_2(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, value: float
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: Reply(200, "OK")))
    trigger = {"url": f"{hook.url}/hook", "payload": {"name": "{package_name}", "score": value}}
    config = scan_config(config_path, f"{index.url}/simple", packages={"alpha": {"triggers": [trigger]}})

    result = job.run(config=config, database_url=kg.url)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert "packages.alpha.triggers[0].payload" in line, line
    assert hook.requests == []
    assert index.requests == []
