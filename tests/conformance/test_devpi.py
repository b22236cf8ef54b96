"""devpi-server (PEP 691 JSON, ``X-Devpi-Serial``, no validators) with one uploaded index."""

from __future__ import annotations

import pytest

from tests.conformance.catalog import FIRST, FIRST_ROWS, MONITORED, NEW, NEW_ROWS
from tests.conformance.conftest import Job, index_config, record_content_type
from tests.conformance.test_pypiserver import inserted
from tests.support.graph import KnowledgeGraph
from tests.support.realservers import DevpiIndex, probe

pytestmark = pytest.mark.conformance


def test_devpi_answers_pep691_json(devpi: DevpiIndex) -> None:
    devpi.add(*FIRST)

    listing, page = probe(devpi.url + "/"), probe(devpi.url + "/foo-bar-baz/")

    for answer in (listing, page):
        record_content_type("devpi", answer)
        assert (answer.status, answer.media_type) == (200, "application/vnd.pypi.simple.v1+json"), answer


@pytest.mark.parametrize("mode", ["all-packages", "monitored"])
def test_devpi_first_run_new_version_then_nothing(devpi: DevpiIndex, job: Job, kg: KnowledgeGraph, mode: str) -> None:
    devpi.add(*FIRST)
    url = devpi.url
    if mode == "all-packages":
        config = index_config(url, only_if_package_seen=False)
    else:
        config = index_config(url, packages=MONITORED)

    first = job(config)

    assert first.code == 0, first
    assert kg.rows(url) == FIRST_ROWS
    assert inserted(first) == FIRST_ROWS
    assert first.report["errors"] == []

    devpi.add(*NEW)
    second = job(config)

    assert second.code == 0, second
    assert inserted(second) == NEW_ROWS
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)

    third = job(config)

    assert third.code == 0, third
    assert third.report["new_release_count"] == 0
    assert kg.rows(url) == sorted(FIRST_ROWS + NEW_ROWS)
