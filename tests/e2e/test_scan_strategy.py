"""The scan strategy of issue 14, end to end: app.py against the synthetic index and real PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import App, AppResult, KnowledgeGraph, WriteConfig, index_config
from tests.support.postgres import PostgresForTests
from tests.support.servers import LISTING, IndexServer
from tests.support.servers.negotiation import PAGE_CONTENT_TYPES
from tests.support.servers.pages import Page

pytestmark = pytest.mark.e2e

PROJECTS = {f"pkg-{i}": ["1.0", "1.1"] for i in range(6)}


class CachedIndex(IndexServer):
    """An index behind a CDN that may serve an old copy of its listing (``old_listing``, from ``listing_now``)."""

    def __init__(self) -> None:
        super().__init__(formats=("json", "html"))
        self.old_listing: dict[str, Page] | None = None

    def listing_now(self) -> dict[str, Page]:
        """The listing as it is now, in every content type."""
        pages = {content_type: self._page(LISTING, content_type) for content_type in PAGE_CONTENT_TYPES}
        return {content_type: page for content_type, page in pages.items() if page is not None}

    def _page(self, key: str, content_type: str) -> Page | None:
        if key == LISTING and self.old_listing is not None:
            return self.old_listing[content_type]
        return super()._page(key, content_type)


@pytest.fixture
def index() -> Iterator[CachedIndex]:
    with CachedIndex() as server:
        for name, versions in PROJECTS.items():
            server.add_project(name, versions)
        yield server


def pages_requested(server: IndexServer) -> list[str]:
    """The projects whose page was requested, sorted."""
    return sorted(
        r.path.split("/")[2] for r in server.requests if r.path.startswith("/simple/") and r.path != "/simple/"
    )


def strategy(run: AppResult, url: str) -> tuple[str, str]:
    scanned = run.index(url)
    return scanned["strategy"], scanned["strategy_reason"]


def seed(kg: KnowledgeGraph, url: str, names: list[str]) -> None:
    """Have the graph know these names on the index (at version 0.1)."""
    index_id = kg.add_index(url, only_if_package_seen=True)
    for name in names:
        kg.add_entity(name, "0.1", index_id)


def test_the_listing_requests_only_what_changed_and_auto_stays_per_project_at_small_sizes(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: CachedIndex, database_url: str
) -> None:
    seed(kg, index.base_url, [*PROJECTS, "not-there"])
    config = write_config(index_config(index.base_url))
    first = app("--config", config, database_url=database_url)
    assert first.code == 0, first
    assert strategy(first, index.base_url) == (
        "projects",
        "7 projects to check, not above the threshold of 2000 for the listing",
    )
    assert "    strategy projects: 7 projects to check" in first.stderr
    assert first.lines_with(f"Index {index.base_url}: strategy projects: 7 projects to check")
    index.publish("pkg-2", "2.0")
    index.clear_requests()

    second = app("--config", config, database_url=database_url, env={"THOTH_PACKAGE_RELEASES_SCAN_STRATEGY": "listing"})

    assert second.code == 0, second
    assert strategy(second, index.base_url) == ("listing", "--scan-strategy listing")
    assert pages_requested(index) == ["pkg-2"]  # not-there was never found: the listing settles it
    scanned = second.index(index.base_url)
    assert (scanned["skipped_by_serial"], scanned["not_found_names"]) == (5, ["not-there"])
    assert second.new_releases == [("pkg-2", "2.0", index.base_url)]


def test_a_listing_whose_serials_went_backwards_falls_back_to_every_project(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: CachedIndex, database_url: str
) -> None:
    config = write_config(index_config(index.base_url, only_if_package_seen=False))
    assert app("--config", config, "--scan-strategy", "listing", database_url=database_url).code == 0
    old = index.listing_now()
    index.publish("pkg-4", "2.0")
    assert app("--config", config, "--scan-strategy", "listing", database_url=database_url).code == 0
    index.old_listing = old  # a CDN node serves the copy from before pkg-4 2.0
    index.publish("pkg-1", "2.0")
    index.clear_requests()

    stale = app("--config", config, "--scan-strategy", "listing", database_url=database_url)

    assert stale.code == 0, stale
    name, reason = strategy(stale, index.base_url)
    assert name == "projects"
    assert reason.startswith("the listing's serials went backwards (serial ")
    assert reason.endswith("): not trusted, all projects requested")
    assert f"    strategy projects: {reason}" in stale.stderr
    assert stale.lines_with(f"Index {index.base_url}: {reason}")
    assert pages_requested(index) == sorted(PROJECTS)
    assert stale.new_releases == [("pkg-1", "2.0", index.base_url)]  # what the stale listing hid is found
    assert stale.index(index.base_url)["stale"] == 0


def test_a_listing_without_serials_never_skips_a_project(
    app: App, write_config: WriteConfig, database_url: str
) -> None:
    with IndexServer(PROJECTS, formats=("json",), listing_serials=False) as plain:
        config = write_config(index_config(plain.base_url, only_if_package_seen=False))
        assert app("--config", config, "--scan-strategy", "listing", database_url=database_url).code == 0
        plain.publish("pkg-0", "2.0")
        plain.clear_requests()

        again = app("--config", config, "--scan-strategy", "listing", database_url=database_url)

        assert again.code == 0, again
        assert strategy(again, plain.base_url) == ("projects", "the listing carries no serial per project")
        assert pages_requested(plain) == sorted(PROJECTS)
        assert again.index(plain.base_url)["not_modified"] == len(PROJECTS) - 1
        assert again.new_releases == [("pkg-0", "2.0", plain.base_url)]
        plain.clear_requests()

        unchanged = app("--config", config, "--scan-strategy", "listing", database_url=database_url)

        assert unchanged.code == 0, unchanged
        reason = "the listing is unchanged but carries no serial per project"
        assert strategy(unchanged, plain.base_url) == ("projects", reason)
        assert pages_requested(plain) == sorted(PROJECTS)


@pytest.mark.parametrize("only_seen", [True, False], ids=["only-seen", "all-packages"])
def test_the_rows_are_the_same_whatever_the_strategy(
    app: App,
    write_config: WriteConfig,
    index: CachedIndex,
    postgres: PostgresForTests,
    database_url: str,
    only_seen: bool,
) -> None:
    other_url = postgres.create_database()
    try:
        graphs = {"listing": KnowledgeGraph(database_url), "projects": KnowledgeGraph(other_url)}
        urls = {"listing": database_url, "projects": other_url}
        for graph in graphs.values():
            seed(graph, index.base_url, ["pkg-0", "pkg-3", "pkg-5", "never-published"])
        config = write_config(index_config(index.base_url, only_if_package_seen=only_seen, packages=["pkg-1"]))

        def run_both() -> dict[str, AppResult]:
            runs = {}
            for name, url in urls.items():
                runs[name] = app("--config", config, "--scan-strategy", name, database_url=url)
                assert runs[name].code == 0, runs[name]
                assert strategy(runs[name], index.base_url)[0] == name
            return runs

        run_both()
        index.publish("pkg-3", "2.0")
        index.publish("pkg-1", "1.2")
        index.add_project("pkg-new", ["0.9"])
        index.remove_project("pkg-5")
        index.clear_requests()
        runs = run_both()

        assert graphs["listing"].entities() == graphs["projects"].entities()
        assert runs["listing"].new_releases == runs["projects"].new_releases
        assert len(runs["listing"].new_releases) >= 2
        # The same rows for less: the listing run skipped the projects its serials showed unchanged.
        assert runs["listing"].index(index.base_url)["skipped_by_serial"] > 0
        assert runs["projects"].index(index.base_url)["skipped_by_serial"] == 0
    finally:
        postgres.drop_database(other_url)
