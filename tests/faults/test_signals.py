"""Fault matrix: the job stopped by SIGTERM or killed by SIGKILL in the middle of a run."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.conftest import (
    Job,
    KnowledgeGraph,
    Result,
    assert_no_duplicates_and_subset,
    assert_projects_whole,
    assert_rows_complete,
    normalized_model,
    projects,
    start_in_chunks,
    wait_for_requests,
    wait_until,
    write_config,
)
from tests.support.app import Running
from tests.support.servers import IndexServer, WebhookReceiver

pytestmark = pytest.mark.faults

MONITORED = ("pkg-000", "pkg-001", "pkg-040")


def monitored_releases(index: IndexServer) -> set[tuple[str, str]]:
    return {row for row in normalized_model(index.projects()) if row[0] in MONITORED}


def deliveries(receiver: WebhookReceiver) -> Counter[tuple[str, str]]:
    return Counter((body["package_name"], body["package_version"]) for body in receiver.json_bodies())


@dataclass(frozen=True)
class MidRun:
    """A run of small chunks against a slow index, caught once it has committed some chunks and is still going."""

    index: IndexServer
    receiver: WebhookReceiver  # the trigger of every MONITORED package posts here
    config: str
    running: Running[Result]


@pytest.fixture
def mid_run(job: Job, kg: KnowledgeGraph, config_path: Path) -> Iterator[MidRun]:
    with IndexServer(projects(60, versions=2), latency=0.1) as index, WebhookReceiver() as receiver:
        trigger = {"url": f"{receiver.url}/hook/{{package_name}}"}
        config = write_config(config_path, index.base_url, packages={name: [trigger] for name in MONITORED})
        running = start_in_chunks(job, config, kg.url)
        wait_until(lambda: kg.outbox() != [] or not running.running())  # notifications queued: chunks committed
        wait_for_requests(running, index, 12)
        yield MidRun(index, receiver, config, running)


def assert_rerun_completes_and_delivers(
    job: Job, kg: KnowledgeGraph, mid_run: MidRun, committed: set[tuple[str, str]]
) -> Result:
    """After the interrupted run, a re-run at full speed inserts the rest and delivers every notification once."""
    index = mid_run.index
    index.latency = 0
    rerun = job.run(config=mid_run.config, database_url=kg.url)

    assert rerun.code == 0, rerun
    assert rerun.new_releases == normalized_model(index.projects()) - committed
    assert_rows_complete(kg, index)
    assert deliveries(mid_run.receiver) == Counter(monitored_releases(index)), "each notification exactly once"
    assert {status for *_, status, _ in kg.outbox()} == {"sent"}
    return rerun


def test_sigterm_stops_after_the_chunk_in_flight_delivers_nothing_half_way_writes_the_report_exits_143(
    job: Job, kg: KnowledgeGraph, mid_run: MidRun
) -> None:
    index, receiver, running = mid_run.index, mid_run.receiver, mid_run.running
    sent_at = running.signal(signal.SIGTERM)
    result = running.wait(timeout=30)
    stopped_in = time.monotonic() - sent_at

    assert result.code == 143, result
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop\n{result}"
    assert "SIGTERM" in (result.report["interrupted"] or ""), result
    assert result.report["succeeded"] is False
    assert "Received SIGTERM" in result.stderr
    committed = assert_no_duplicates_and_subset(kg, index)
    assert committed < normalized_model(index.projects()), "SIGTERM must have stopped the run early"
    assert committed == result.new_releases
    assert_projects_whole(kg, index)
    # Notifications of what was committed stay queued: none is sent on the way out.
    assert receiver.requests == []
    outbox = kg.outbox()
    assert outbox
    assert {status for *_, status, _ in outbox} == {"pending"}
    assert {(name, version) for name, version, *_ in outbox} == committed & monitored_releases(index)

    assert_rerun_completes_and_delivers(job, kg, mid_run, committed)


def test_sigkill_mid_run_then_a_rerun_completes_without_duplicates_and_delivers_what_was_queued(
    job: Job, kg: KnowledgeGraph, mid_run: MidRun
) -> None:
    index, receiver, running = mid_run.index, mid_run.receiver, mid_run.running
    running.signal(signal.SIGKILL)
    killed = running.wait(timeout=10)

    assert killed.code == -signal.SIGKILL
    committed = assert_no_duplicates_and_subset(kg, index)
    assert committed < normalized_model(index.projects())
    assert receiver.requests == []
    queued = {(name, version) for name, version, status, _ in kg.outbox() if status == "pending"}
    assert queued, "notifications of the committed chunks are queued"

    rerun = assert_rerun_completes_and_delivers(job, kg, mid_run, committed)
    assert rerun.report["notifications"]["sent"] == len(monitored_releases(index))


def test_sigterm_while_every_request_hangs_still_exits_143_within_seconds(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(4)) as index:
        for name in projects(4):
            index.hang(name, 60, times=None)
        config = write_config(config_path, index.base_url)
        running = job.start("--timeout", "2", config=config, database_url=kg.url)
        wait_for_requests(running, index, 5)  # the listing and 4 pages

        sent_at = running.signal(signal.SIGTERM)
        result = running.wait(timeout=60)
        stopped_in = time.monotonic() - sent_at

        assert result.code == 143, result
        assert result.report["interrupted"], result
        assert stopped_in < 6, f"took {stopped_in:.1f} s to stop after SIGTERM with --timeout 2\n{result}"
        assert result.report["errors"] == [], "requests cut short by the stop are not failures"

        index.clear_faults()
        rerun = job.run(config=config, database_url=kg.url)

        assert rerun.code == 0, rerun
        assert_rows_complete(kg, index)
