"""What makes steady runs cheap, end to end: conditional requests, serials, chunked bulk writes (issue 4)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import App, KnowledgeGraph, WriteConfig, index_config
from tests.support.servers import IndexServer

pytestmark = pytest.mark.e2e

PROJECTS = {f"pkg-{i}": [f"1.{v}" for v in range(3)] for i in range(5)}


def page_state(kg: KnowledgeGraph, index_url: str) -> dict[str, tuple[str | None, int | None, object]]:
    rows = kg.query(
        "SELECT project, etag, serial, updated_at FROM thoth_package_releases.page_state WHERE index_url = %s",
        (index_url,),
    )
    return {project: (etag, serial, updated) for project, etag, serial, updated in rows}


def project_requests(server: IndexServer) -> list[tuple[str, int | None, dict[str, str]]]:
    return [
        (r.path, r.status, dict(r.headers))
        for r in server.requests
        if r.path.startswith("/simple/") and r.path != "/simple/"
    ]


@pytest.fixture
def index(json_index: IndexServer) -> IndexServer:
    for name, versions in PROJECTS.items():
        json_index.add_project(name, versions)
    return json_index


def expected_rows(server: IndexServer, model: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    return sorted((name, version, server.base_url) for name, versions in model.items() for version in versions)


def test_unchanged_pages_cost_a_304_and_no_write(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer, database_url: str
) -> None:
    config = write_config(index_config(index.base_url, packages=sorted(PROJECTS)))
    first = app("--config", config, database_url=database_url)
    assert first.code == 0, first
    stored = page_state(kg, index.base_url)
    assert set(stored) == set(PROJECTS)
    assert all(etag for etag, _, _ in stored.values())

    index.clear_requests()
    second = app("--config", config, database_url=database_url)
    assert second.code == 0, second
    requests = project_requests(index)
    assert [status for _, status, _ in requests] == [304] * len(PROJECTS)
    assert all(headers["if-none-match"] == stored[path.split("/")[2]][0] for path, _, headers in requests)
    assert second.index(index.base_url)["not_modified"] == len(PROJECTS)
    assert second.new_releases == []
    assert page_state(kg, index.base_url) == stored  # same ETags, serials, and not even touched


def test_a_changed_page_replaces_its_etag_and_serial(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer, database_url: str
) -> None:
    config = write_config(index_config(index.base_url, packages=sorted(PROJECTS)))
    assert app("--config", config, database_url=database_url).code == 0
    before = page_state(kg, index.base_url)
    index.publish("pkg-2", "2.0")

    run = app("--config", config, database_url=database_url)

    assert run.code == 0, run
    assert run.new_releases == [("pkg-2", "2.0", index.base_url)]
    after = page_state(kg, index.base_url)
    assert after["pkg-2"][0] != before["pkg-2"][0]
    assert after["pkg-2"][1] == index.project_serial("pkg-2")
    assert {k: v for k, v in after.items() if k != "pkg-2"} == {k: v for k, v in before.items() if k != "pkg-2"}


def test_stale_page_is_fetched_again_bypassing_caches_then_skipped(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer, database_url: str
) -> None:
    config = write_config(index_config(index.base_url, packages=sorted(PROJECTS)))
    assert app("--config", config, database_url=database_url).code == 0
    index.publish("pkg-1", "2.0")
    assert app("--config", config, database_url=database_url).code == 0
    recorded = page_state(kg, index.base_url)["pkg-1"]
    recorded_serial = recorded[1]
    assert recorded_serial is not None
    index.publish("pkg-1", "3.0")
    # A CDN keeps serving the copy from before 2.0: older than what the job recorded, twice in a row.
    index.stale("pkg-1", recorded_serial - 1, times=2)
    index.clear_requests()

    stale = app("--config", config, database_url=database_url)

    assert stale.code == 0, stale
    assert stale.index(index.base_url)["stale"] == 1
    assert stale.new_releases == []
    assert next(e for p, _, e in stale.errors if p == "pkg-1").startswith("stale page")
    pkg1 = [headers for path, _, headers in project_requests(index) if path == "/simple/pkg-1/"]
    assert len(pkg1) == 2
    assert "if-none-match" in pkg1[0]
    assert pkg1[1].get("cache-control") == "no-cache"
    assert "if-none-match" not in pkg1[1]
    assert page_state(kg, index.base_url)["pkg-1"] == recorded  # nothing written for the stale page

    # Once: the retry gets the fresh page and the release goes in.
    index.stale("pkg-1", recorded_serial - 1, times=1)
    fresh = app("--config", config, database_url=database_url)
    assert fresh.code == 0, fresh
    assert fresh.new_releases == [("pkg-1", "3.0", index.base_url)]
    assert fresh.index(index.base_url)["stale"] == 0


def test_all_packages_mode_fetches_only_projects_whose_serial_grew(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer, database_url: str
) -> None:
    config = write_config(index_config(index.base_url, only_if_package_seen=False))
    first = app("--config", config, database_url=database_url)
    assert first.code == 0, first
    assert kg.entities() == expected_rows(index, PROJECTS)

    index.publish("pkg-3", "9.0")
    index.clear_requests()
    second = app("--config", config, database_url=database_url)
    assert second.code == 0, second
    assert [path for path, _, _ in project_requests(index)] == ["/simple/pkg-3/"]
    assert second.index(index.base_url)["skipped_by_serial"] == len(PROJECTS) - 1
    assert second.new_releases == [("pkg-3", "9.0", index.base_url)]

    index.clear_requests()
    third = app("--config", config, database_url=database_url)
    assert third.code == 0, third
    listing = [r for r in index.requests if r.path == "/simple/"]
    assert [r.status for r in listing] == [304]
    assert project_requests(index) == []
    assert third.index(index.base_url)["listing"] == "not_modified"


def test_chunk_boundaries_neither_lose_nor_duplicate_rows(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, json_index: IndexServer, database_url: str
) -> None:
    model = {f"chunked-{i:02d}": [f"0.{v}" for v in range(4)] for i in range(10)}
    for name, versions in model.items():
        json_index.add_project(name, versions)
    config = write_config(index_config(json_index.base_url, packages=sorted(model)))

    first = app("--config", config, "--chunk-size", "3", database_url=database_url)

    assert first.code == 0, first
    assert kg.entities() == expected_rows(json_index, model)
    assert len(first.new_releases) == 40
    again = app("--config", config, "--chunk-size", "7", database_url=database_url)
    assert again.code == 0, again
    assert again.new_releases == []
    assert kg.count("python_package_version_entity") == 40
