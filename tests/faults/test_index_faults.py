"""Fault matrix, index side: HTTP errors and resets, slow and hanging answers, an index down, malformed pages.

Each test breaks a real local index on purpose, runs the real job against it, checks what the operator sees
(exit code, report, one-line reasons), then repairs the index and checks that a clean re-run leaves exactly
the rows a run without faults leaves, each once.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from tests.faults.conftest import (
    GATED,
    Job,
    KnowledgeGraph,
    arrivals,
    assert_no_duplicates_and_subset,
    assert_projects_whole,
    assert_rows_complete,
    normalized_model,
    project_requests,
    projects,
    wait_past,
    write_config,
)
from tests.support.servers import IndexServer

pytestmark = pytest.mark.faults

ATTEMPTS = 4  # the simple-API client's first try and its 3 retries


def rows_of(kg: KnowledgeGraph, index: IndexServer, name: str) -> list[tuple[str, str]]:
    return [row for row in kg.rows(index.base_url) if row[0] == name]


def versions_of(index: IndexServer, name: str) -> set[tuple[str, str]]:
    return {row for row in normalized_model(index.projects()) if row[0] == name}


# -- 5xx, 429 and resets -------------------------------------------------------------------------------------


def test_server_errors_and_resets_are_retried_with_backoff_then_reported_per_project(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(9)) as index:
        url = index.base_url
        failing = {"pkg-000": "HTTP 500", "pkg-001": "HTTP 502", "pkg-002": "HTTP 503", "pkg-003": "connection reset"}
        index.fail("pkg-000", 500, times=None)
        index.fail("pkg-001", 502, times=None)
        index.fail("pkg-002", 503, times=None)
        index.reset("pkg-003", times=None)
        index.fail("pkg-004", 503, times=1, retry_after="1")  # then fine: the job must wait about 1 s
        index.reset("pkg-005", times=1)
        index.fail("pkg-006", 429, times=2)
        index.fail("pkg-007", 502, times=3)  # the last of the 4 attempts succeeds

        result = job.run(config=write_config(config_path, url), database_url=kg.url)

        assert result.code == 0, result
        report = result.index(url)
        assert report["failed"] == len(failing), result
        assert report["packages_checked"] == 9, result
        for name, reason in failing.items():
            errors = result.errors_for(name)
            assert len(errors) == 1, result
            assert reason in errors[0], errors
            assert f"after {ATTEMPTS} attempts" in errors[0], errors
            assert "\n" not in errors[0]
            assert project_requests(index, name) == ATTEMPTS, f"{name}: retries must be bounded"
            assert rows_of(kg, index, name) == []
        assert {e["package_name"] for e in result.report["errors"]} == set(failing), result
        # Retry-After: 1 is honoured (the job's own first backoff is 0.5-0.75 s).
        first, second = arrivals(index, "/simple/pkg-004/")
        assert 0.95 <= second - first < 1.8, f"waited {second - first:.2f} s for Retry-After: 1"
        # The exponential backoff: 0.5-0.75 s, then 1-1.5 s, then 2-3 s between the four attempts.
        times = arrivals(index, "/simple/pkg-000/")
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        bounds = [(0.45, 1.2), (0.95, 2.0), (1.95, 3.6)]
        assert all(low <= gap <= high for gap, (low, high) in zip(gaps, bounds, strict=True)), gaps
        for name in ("pkg-004", "pkg-005", "pkg-006", "pkg-007", "pkg-008"):
            assert set(rows_of(kg, index, name)) == versions_of(index, name), name
        assert_no_duplicates_and_subset(kg, index)

        index.clear_faults()
        rerun = job.run(config=write_config(config_path, url), database_url=kg.url)

        assert rerun.code == 0, rerun
        assert rerun.report["errors"] == []
        assert rerun.new_releases == {row for name in failing for row in versions_of(index, name)}
        assert_rows_complete(kg, index)


# -- slow, hanging, trickling --------------------------------------------------------------------------------


def test_slow_hanging_and_trickling_pages_time_out_are_retried_and_reported_and_the_run_ends(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(6)) as index:
        url = index.base_url
        index.hang("pkg-000", 60, times=None)  # never answers within --timeout
        index.trickle("pkg-001", seconds_per_byte=0.05, times=None)  # hangs mid-body: a byte every 50 ms
        index.hang("pkg-002", 3, times=1)  # slow once, then fine
        index.trickle("pkg-003", seconds_per_byte=0.05, times=1)

        result = job.run("--timeout", "1", config=write_config(config_path, url), database_url=kg.url, timeout=40)

        assert result.code == 0, result
        # 4 attempts of at most ~1 s each plus at most 5.25 s of backoff: the run cannot hang.
        assert result.seconds < 20, result
        assert result.index(url)["failed"] == 2, result
        (hung,) = result.errors_for("pkg-000")
        (trickled,) = result.errors_for("pkg-001")
        assert "timed out" in hung.lower() or "timeout" in hung.lower(), hung
        assert "within 1 s" in trickled or "timeout" in trickled.lower(), trickled
        assert f"after {ATTEMPTS} attempts" in hung
        assert f"after {ATTEMPTS} attempts" in trickled
        assert project_requests(index, "pkg-000") == ATTEMPTS
        assert project_requests(index, "pkg-001") == ATTEMPTS
        assert rows_of(kg, index, "pkg-000") == rows_of(kg, index, "pkg-001") == []
        for name in ("pkg-002", "pkg-003", "pkg-004", "pkg-005"):
            assert set(rows_of(kg, index, name)) == versions_of(index, name), name

        index.clear_faults()
        rerun = job.run("--timeout", "1", config=write_config(config_path, url), database_url=kg.url)

        assert rerun.code == 0, rerun
        assert rerun.report["errors"] == []
        assert_rows_complete(kg, index)


DEADLINE = 3.0
CHUNK_SIZE = 4


def test_deadline_stops_the_run_cleanly_with_what_it_committed(job: Job, kg: KnowledgeGraph, config_path: Path) -> None:
    with IndexServer(projects(80, versions=2)) as index, index.hold("pkg-020") as gate:
        url = index.base_url
        config = write_config(config_path, url)

        running = job.start(
            *GATED,
            "--deadline",
            str(DEADLINE),
            "--chunk-size",
            str(CHUNK_SIZE),
            "--concurrency",
            "2",
            config=config,
            database_url=kg.url,
        )
        # Held in the chunk of pkg-020: the chunks before it are committed (the deadline had not passed when the
        # job started this one). The deadline counts from before the job's first request: once it has passed for
        # sure, the held page is answered and the job may only finish this chunk.
        gate.wait_held(1, alive=running.running)
        wait_past(index.requests[0].received + DEADLINE)
        released_at = time.monotonic()
        gate.release()
        result = running.wait()

        # What the code does and the README documents: stop taking new work, finish the chunk in flight,
        # report the interruption, exit 0 (only SIGTERM exits 143).
        assert result.code == 0, result
        assert "deadline" in (result.report["interrupted"] or ""), result
        assert result.report["succeeded"] is False
        assert "Stopped early" in result.stderr
        # Past the deadline the job asks for nothing beyond the chunk in flight (however long it took to get here).
        late = [r.path for r in index.requests if r.received > released_at]
        assert len(late) < CHUNK_SIZE, late
        committed = assert_no_duplicates_and_subset(kg, index)
        assert committed, "the chunks before the deadline are committed"
        assert committed < normalized_model(index.projects()), "the deadline must have cut the run short"
        assert committed == result.new_releases
        assert_projects_whole(kg, index)

        rerun = job.run(config=config, database_url=kg.url)

        assert rerun.code == 0, rerun
        assert rerun.report["interrupted"] is None
        assert rerun.new_releases == normalized_model(index.projects()) - committed
        assert_rows_complete(kg, index)


# -- a whole index down ----------------------------------------------------------------------------------------


def test_an_index_down_is_reported_the_other_is_checked_and_only_all_down_exits_1(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(3, prefix="up")) as up, IndexServer(projects(3, prefix="down")) as down:
        config = write_config(config_path, up.base_url, down.base_url)
        down.down()

        one_down = job.run(config=config, database_url=kg.url)

        assert one_down.code == 0, one_down
        failed = one_down.index(down.base_url)
        assert "project listing" in (failed["error"] or ""), one_down
        assert "\n" not in failed["error"]
        assert f"index {down.base_url}: FAILED" in one_down.stderr
        assert one_down.index(up.base_url)["packages_checked"] == 3
        assert_rows_complete(kg, up)
        assert kg.rows(down.base_url) == []

        up.down()
        all_down = job.run(config=config, database_url=kg.url)

        assert all_down.code == 1, all_down
        assert "every index failed" in (all_down.report["failure"] or ""), all_down
        assert len(all_down.error_lines) == 1, all_down
        assert all(index["error"] for index in all_down.report["indexes"])

        up.up()
        down.up()
        rerun = job.run(config=config, database_url=kg.url)

        assert rerun.code == 0, rerun
        assert rerun.report["errors"] == []
        assert_rows_complete(kg, up)
        assert_rows_complete(kg, down)


# -- malformed and oversized pages -----------------------------------------------------------------------------

# project -> (how its page is broken, words the one-line reason must contain)
MALFORMED = {
    "bad-json": ("json", "malformed JSON"),
    "wrong-content-type": ("content_type", "unexpected content type"),
    "wrong-shape": ("schema", "malformed JSON"),
    "future-api": ("api_version", "unsupported repository version"),
    "empty-json": ("empty", "malformed JSON"),
    "truncated": ("truncate", "truncated"),
    "oversized": ("oversize", "exceeds"),
    "oversized-chunked": ("oversize-chunked", "exceeds"),
}


def break_page(index: IndexServer, name: str, kind: str) -> None:
    if kind == "truncate":
        index.truncate(name, times=None)
    elif kind == "oversize":
        index.oversize(name, 60_000_000)
    elif kind == "oversize-chunked":
        index.oversize(name, 60_000_000, chunked=True)
    else:
        index.malformed(name, kind, times=None)


def test_malformed_truncated_and_oversized_pages_are_reported_in_one_line_and_nothing_is_written(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    model = {name: ["1.0", "2.0"] for name in MALFORMED} | {"healthy": ["1.0", "1.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        for name, (kind, _) in MALFORMED.items():
            break_page(index, name, kind)

        result = job.run(config=write_config(config_path, url), database_url=kg.url, timeout=60)

        assert result.code == 0, result
        assert result.index(url)["failed"] == len(MALFORMED), result
        for name, (kind, words) in MALFORMED.items():
            errors = result.errors_for(name)
            assert len(errors) == 1, f"{name} ({kind}): {errors}\n{result}"
            assert words in errors[0], f"{name} ({kind}): {errors[0]}"
            assert "\n" not in errors[0]
            assert len(errors[0]) <= 300
            assert rows_of(kg, index, name) == [], f"{name} ({kind}) must write nothing"
        assert set(rows_of(kg, index, "healthy")) == versions_of(index, "healthy")

        index.clear_faults()
        rerun = job.run(config=write_config(config_path, url), database_url=kg.url)

        assert rerun.code == 0, rerun
        assert rerun.report["errors"] == []
        assert_rows_complete(kg, index)


def test_bad_html_page_is_reported_and_the_clean_rerun_inserts_the_project(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer({"bad-html": ["1.0", "2.0"], "healthy": ["1.0"]}, formats=("html",)) as index:
        url = index.base_url
        index.malformed("bad-html", "html", times=None)

        result = job.run(config=write_config(config_path, url), database_url=kg.url)

        assert result.code == 0, result
        assert rows_of(kg, index, "bad-html") == []
        index.clear_faults()
        rerun = job.run(config=write_config(config_path, url), database_url=kg.url)

        assert rerun.code == 0, rerun
        assert_rows_complete(kg, index)
        assert len(result.errors_for("bad-html")) == 1, result
