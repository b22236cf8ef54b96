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
    wait_for_stderr,
    write_config,
)
from tests.support.app import Running
from tests.support.servers import Gate, IndexServer, WebhookReceiver

pytestmark = pytest.mark.faults

MONITORED = ("pkg-000", "pkg-001", "pkg-040")
HELD = "pkg-030"  # the mid-run fixture holds the run at this page: in the 11th of 20 chunks


def monitored_releases(index: IndexServer) -> set[tuple[str, str]]:
    return {row for row in normalized_model(index.projects()) if row[0] in MONITORED}


def deliveries(receiver: WebhookReceiver) -> Counter[tuple[str, str]]:
    return Counter((body["package_name"], body["package_version"]) for body in receiver.json_bodies())


@dataclass(frozen=True)
class MidRun:
    """A run of small chunks held at one page of the index: it has committed some chunks and is still going."""

    index: IndexServer
    gate: Gate  # holds the page of HELD until released
    receiver: WebhookReceiver  # the trigger of every MONITORED package posts here
    config: str
    running: Running[Result]


@pytest.fixture
def mid_run(job: Job, kg: KnowledgeGraph, config_path: Path) -> Iterator[MidRun]:
    with (
        IndexServer(projects(60, versions=2)) as index,
        index.hold(HELD) as gate,
        WebhookReceiver() as receiver,
    ):
        trigger = {"url": f"{receiver.url}/hook/{{package_name}}"}
        config = write_config(config_path, index.base_url, packages={name: [trigger] for name in MONITORED})
        running = start_in_chunks(job, config, kg.url)
        gate.wait_held(1, alive=running.running)
        # Chunks are recorded in order: those before HELD's, with pkg-000 and pkg-001, are committed.
        assert kg.outbox() != [], "notifications of the committed chunks are queued"
        yield MidRun(index, gate, receiver, config, running)


def assert_rerun_completes_and_delivers(
    job: Job, kg: KnowledgeGraph, mid_run: MidRun, committed: set[tuple[str, str]]
) -> Result:
    """After the interrupted run, a re-run with nothing held inserts the rest and delivers every notification once."""
    index = mid_run.index
    mid_run.gate.release()
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
    # The job has taken the signal in while its chunk is in flight: the held page may now be answered.
    wait_for_stderr(running, "Received SIGTERM")
    mid_run.gate.release()
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
    with IndexServer(projects(4)) as index, index.hold(*projects(4)) as gate:
        config = write_config(config_path, index.base_url)
        running = job.start("--timeout", "2", config=config, database_url=kg.url)
        gate.wait_held(4, alive=running.running)  # every page requested, none answered

        sent_at = running.signal(signal.SIGTERM)
        result = running.wait(timeout=60)
        stopped_in = time.monotonic() - sent_at

        assert result.code == 143, result
        assert result.report["interrupted"], result
        assert stopped_in < 6, f"took {stopped_in:.1f} s to stop after SIGTERM with --timeout 2\n{result}"
        assert result.report["errors"] == [], "requests cut short by the stop are not failures"

        gate.release()
        rerun = job.run(config=config, database_url=kg.url)

        assert rerun.code == 0, rerun
        assert_rows_complete(kg, index)
