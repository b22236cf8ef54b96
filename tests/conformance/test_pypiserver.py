"""pypiserver (PEP 503 HTML only, no validators): first run, one new version, then nothing."""

from __future__ import annotations

import pytest

from tests.conformance.catalog import FIRST, FIRST_ROWS, MONITORED, NEW, NEW_ROWS
from tests.conformance.conftest import Job, index_config, record_content_type
from tests.support.app import AppOutput
from tests.support.graph import KnowledgeGraph
from tests.support.realservers import PypiServer, probe

pytestmark = pytest.mark.conformance


def inserted(result: AppOutput) -> list[tuple[str, str]]:
    """The report's new releases as sorted (name, version) pairs."""
    return sorted((r["package_name"], r["package_version"]) for r in result.report["new_releases"])


def test_pypiserver_answers_html(pypiserver: PypiServer) -> None:
    pypiserver.add(*FIRST)

    listing, page = probe(pypiserver.url + "/"), probe(pypiserver.url + "/foo-bar-baz/")

    for answer in (listing, page):
        record_content_type("pypiserver", answer)
        assert (answer.status, answer.media_type) == (200, "text/html"), answer
    # Unnormalized and slash-less project URLs are redirected on the same origin.
    assert probe(pypiserver.url + "/Foo.Bar_baz/").location == pypiserver.url + "/foo-bar-baz/"


@pytest.mark.parametrize("mode", ["all-packages", "monitored"])
def test_pypiserver_first_run_new_version_then_nothing(
    pypiserver: PypiServer, job: Job, kg: KnowledgeGraph, mode: str
) -> None:
    pypiserver.add(*FIRST)
    url = pypiserver.url
    if mode == "all-packages":
        config = index_config(url, only_if_package_seen=False)
    else:
        config = index_config(url, packages=MONITORED)

    first = job(config)

    assert first.code == 0, first
    assert kg.rows(url) == FIRST_ROWS
    assert inserted(first) == FIRST_ROWS
    assert first.report["errors"] == []

    pypiserver.add(*NEW)
    second = job(config)

    assert second.code == 0, second
    assert inserted(second) == NEW_ROWS
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)

    third = job(config)

    assert third.code == 0, third
    assert third.report["new_release_count"] == 0
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)
    assert kg.index_urls() == [url]
