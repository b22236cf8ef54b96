"""Hostile servers, issue 10 (4): values that fail every run that meets them.

A valid PEP 440 version of 4,000 characters is longer than the graph's btree indexes accept: it must be
skipped and reported like an invalid version, the rest of its chunk recorded, the database error never retried
as a lost connection, and the next run clean. A monitored name that long is a configuration error (exit 2).
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from tests.faults.conftest import Job, KnowledgeGraph
from tests.faults.hostile_fixtures import Serve, scan_config, write_yaml
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.hostile import Index, Routes, ok, rss

pytestmark = pytest.mark.faults

# Random letters and digits: PostgreSQL compresses a repetitive value below the btree limit, not these.
_RANDOM = random.Random(10)
_ALPHANUMERIC = string.ascii_lowercase + string.digits
LONG_VERSION = "1.0+" + "".join(_RANDOM.choices(_ALPHANUMERIC, k=3996))  # valid PEP 440 (a local label)
LONG_NAME = "".join(_RANDOM.choices(_ALPHANUMERIC, k=4000))  # a valid PEP 508 project name
PROJECTS = {"alpha": ["1.0"], "poisoned": ["1.0", "2.0"], "omega": ["3.0"]}
ROWS = {(name, version) for name, versions in PROJECTS.items() for version in versions}
BOUND = 12.0  # seconds: a run of three small projects


def test_version_of_4000_characters_on_a_page_is_skipped_and_the_chunk_recorded(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index({**PROJECTS, "poisoned": [*PROJECTS["poisoned"], LONG_VERSION]}).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url, timeout=BOUND + 3)

    assert result.code == 0, result
    assert result.seconds < BOUND, f"{result.seconds:.1f} s: a database error retried as a lost connection?\n{result}"
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    (error,) = result.errors_for("poisoned")
    assert len(error) < 1000, error
    rerun = job.run(config=config, database_url=kg.url, timeout=BOUND + 3)
    assert rerun.code == 0, rerun
    assert rerun.new_releases == set(), rerun


def test_version_of_4000_characters_in_a_feed_is_skipped_and_the_rest_recorded(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    items = [("alpha", LONG_VERSION), ("alpha", "5.0")]
    feed = serve(Routes({"/rss.xml": ok(rss(items), "application/rss+xml")}))
    index_url = f"{index.url}/simple"
    document = {
        "indexes": [{"url": index_url}],
        "feeds": [{"url": f"{feed.url}/rss.xml", "index_url": index_url}],
        "packages": {"alpha": {}},
    }
    config = write_yaml(config_path, document)

    result = job.run("--no-scan", config=config, database_url=kg.url, timeout=BOUND + 3)

    assert result.code == 0, result
    assert result.seconds < BOUND, result
    assert result.new_releases == {("alpha", "5.0")}, result
    assert set(kg.rows(index_url)) == {("alpha", "5.0")}
    rerun = job.run("--no-scan", config=config, database_url=kg.url, timeout=BOUND + 3)
    assert rerun.code == 0, rerun


def test_monitored_name_of_4000_characters_is_a_configuration_error(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    config = scan_config(config_path, f"{index.url}/simple", packages={LONG_NAME: {}})

    result = job.run(config=config, database_url=kg.url, timeout=BOUND + 3)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert len(line) < 1000, line
    assert index.requests == []
    assert kg.index_urls() == []


def test_version_of_200_characters_is_recorded(job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve) -> None:
    """The control case: a long but reasonable version is no poison and is recorded like any other."""
    long_enough = "1.0+" + "a" * 196
    index = serve(Index({**PROJECTS, "poisoned": [*PROJECTS["poisoned"], long_enough]}).routes())
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(config=config, database_url=kg.url)

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS | {("poisoned", long_enough)}
