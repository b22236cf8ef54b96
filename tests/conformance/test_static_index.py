"""A static index written by dumb-pypi, served by ``python -m http.server`` (Last-Modified, 304s), rebuilt
incrementally with one new version the way its users do."""

from __future__ import annotations

import pytest

from tests.conformance.catalog import FIRST, FIRST_ROWS, MONITORED, NEW, NEW_ROWS, YANKED
from tests.conformance.conftest import Job, index_config, record_content_type
from tests.conformance.test_pypiserver import inserted
from tests.support.graph import KnowledgeGraph
from tests.support.realservers import StaticIndex, probe

pytestmark = pytest.mark.conformance


@pytest.fixture
def built(static_index: StaticIndex) -> StaticIndex:
    """The static index with the first releases, built an hour ago."""
    static_index.publish(*FIRST, yanked={YANKED: "broken metadata"})
    static_index.age()
    return static_index


def test_static_index_answers_html_with_last_modified(built: StaticIndex) -> None:
    listing, page = probe(built.url + "/"), probe(built.url + "/foo-bar-baz/")

    for answer in (listing, page):
        record_content_type("static", answer)
        assert (answer.status, answer.media_type) == (200, "text/html"), answer
    assert "data-yanked" in (built.site / "simple" / "foo-bar-baz" / "index.html").read_text(encoding="utf-8")


def test_incremental_rebuild_rewrites_only_the_changed_project(built: StaticIndex) -> None:
    root, page = built.site / "simple" / "index.html", built.site / "simple" / "foo-bar-baz" / "index.html"
    before = root.stat().st_mtime, page.stat().st_mtime

    built.publish(*NEW)

    # What makes defect 2 possible: the root listing is not rewritten, the project page is.
    assert root.stat().st_mtime == before[0]
    assert page.stat().st_mtime > before[1]
    assert "1.2" in page.read_text(encoding="utf-8")


def test_static_index_monitored_first_run_new_version_then_nothing(
    built: StaticIndex, job: Job, kg: KnowledgeGraph
) -> None:
    url = built.url
    config = index_config(url, packages=MONITORED)

    first = job(config)

    assert first.code == 0, first
    assert kg.rows(url) == FIRST_ROWS  # the yanked release included
    assert inserted(first) == FIRST_ROWS
    assert first.report["errors"] == []

    built.publish(*NEW)
    second = job(config)

    assert second.code == 0, second
    assert inserted(second) == NEW_ROWS
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)
    assert built.answers("/simple/zope-interface/")[-1] == 304  # unchanged pages cost a 304

    third = job(config)

    assert third.code == 0, third
    assert third.report["new_release_count"] == 0
    assert third.index(url)["not_modified"] == 2
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)
