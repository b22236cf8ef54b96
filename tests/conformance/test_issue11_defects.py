"""The defects of issue 11, each against a real server; each fails today (strict xfail) until it is fixed."""

from __future__ import annotations

import json
import re

import pytest

from tests.conformance.catalog import FIRST, FIRST_ROWS, NEW, NEW_ROWS, YANKED
from tests.conformance.conftest import Job, index_config
from tests.conformance.test_pypiserver import inserted
from tests.support.distributions import Distribution
from tests.support.graph import KnowledgeGraph
from tests.support.realservers import DevpiIndex, PypiServer, StaticIndex, page_text, probe

pytestmark = pytest.mark.conformance


def test_fallback_to_another_server_is_not_followed(pypiserver: PypiServer, job: Job, kg: KnowledgeGraph) -> None:
    other = pypiserver  # the second server: the only one that has the package
    other.add(Distribution("Private.Only", "1.0", "wheel"))
    with PypiServer(other.folder.parent / "falls-back", fallback_url=other.url + "/") as first:
        first.add(*FIRST)
        answer = probe(first.url + "/private-only/")
        assert (answer.status, answer.location) == (303, other.url + "/private-only/")  # the server's fallback
        before = len(other.requested_paths())

        result = job(index_config(first.url, packages=("Private.Only",)))

        assert kg.rows(first.url) == []
        assert kg.entities() == []
        assert other.requested_paths()[before:] == []  # the job never talked to the other origin
        assert result.index(first.url)["failed"] == 1
        ((name, index_url, error),) = [(e["package_name"], e["index_url"], e["error"]) for e in result.report["errors"]]
        assert (name, index_url) == ("private-only", first.url)
        assert f"127.0.0.1:{other.port}" in error
        assert "\n" not in error


def test_static_rebuild_new_version_found_although_root_answers_304(
    static_index: StaticIndex, job: Job, kg: KnowledgeGraph
) -> None:
    static_index.publish(*FIRST, yanked={YANKED: "broken metadata"})
    static_index.age()
    url = static_index.url
    config = index_config(url, only_if_package_seen=False)  # all packages, none monitored
    first = job(config)
    assert first.code == 0, first
    assert kg.rows(url) == FIRST_ROWS

    static_index.publish(*NEW)  # incremental: only foo-bar-baz's page is rewritten
    second = job(config)

    assert static_index.answers("/simple/")[-1] == 304  # the root did not change
    assert second.code == 0, second
    assert inserted(second) == NEW_ROWS
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)


def test_pypiserver_welcome_page_as_index_is_an_index_error(
    pypiserver: PypiServer, job: Job, kg: KnowledgeGraph
) -> None:
    pypiserver.add(*FIRST)
    welcome = pypiserver.base + "/"
    assert "Welcome to pypiserver" in page_text(welcome)

    result = job(index_config(welcome, only_if_package_seen=False))

    assert result.code == 1, result
    assert result.index(pypiserver.base)["error"]  # the index URL is registered without its trailing slash
    assert kg.entities() == []


def test_devpi_index_without_simple_is_an_index_error(devpi: DevpiIndex, job: Job, kg: KnowledgeGraph) -> None:
    devpi.add(*FIRST)

    result = job(index_config(devpi.page_url, packages=("Foo.Bar-baz", "zope_interface")))

    assert result.code == 1, result
    assert result.index(devpi.page_url)["error"]
    assert kg.entities() == []


def test_config_turns_off_only_if_package_seen_of_a_registered_index(
    pypiserver: PypiServer, job: Job, kg: KnowledgeGraph
) -> None:
    pypiserver.add(*FIRST)
    url = pypiserver.url
    kg.add_index(url, enabled=True, only_if_package_seen=True)

    result = job(index_config(url, only_if_package_seen=False))

    assert result.code == 0, result
    assert kg.indexes() == [(url, True, False)]
    assert result.lines_with(f"{url}: only_if_package_seen true -> false (from config)"), result
    assert "only_if_package_seen" in json.dumps(result.report)
    assert kg.rows(url) == FIRST_ROWS  # now every project the index lists


def test_config_disables_a_registered_index(pypiserver: PypiServer, job: Job, kg: KnowledgeGraph) -> None:
    pypiserver.add(*FIRST)
    url = pypiserver.url
    kg.add_index(url, enabled=True, only_if_package_seen=False)

    result = job(f"indexes:\n  - url: {url}\n    enabled: false\npackages: {{}}\n")

    assert kg.indexes() == [(url, False, False)]  # the key not written is left as it is
    assert result.lines_with(f"{url}: enabled true -> false (from config)"), result
    assert "enabled" in json.dumps(result.report)
    assert kg.rows(url) == []


def test_invalid_versions_are_counted_and_listed_not_errors(
    pypiserver: PypiServer, job: Job, kg: KnowledgeGraph
) -> None:
    pypiserver.add(Distribution("Legacy.Tz", "2004.1"), Distribution("Legacy.Tz", "2004.custom"))
    url = pypiserver.url

    result = job(index_config(url, only_if_package_seen=False))

    assert kg.rows(url) == [("legacy-tz", "2004.1")]
    assert result.code == 0, result
    assert result.report["errors"] == []
    invalid = result.index(url)["invalid_versions"]
    assert (invalid if isinstance(invalid, int) else len(invalid)) == 1
    assert re.search(r"legacy[-.]tz.*2004\.custom", json.dumps(result.report), re.IGNORECASE), result
