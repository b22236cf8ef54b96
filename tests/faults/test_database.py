"""Fault matrix, database side: unreachable at start, connection lost mid-run, two runs at once."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.faults.conftest import (
    Job,
    KnowledgeGraph,
    Result,
    assert_rerun_adds_nothing,
    assert_rows_complete,
    closed_port,
    normalized_model,
    projects,
    start_in_chunks,
    wait_until,
    write_config,
)
from tests.support.app import Running
from tests.support.servers import IndexServer

pytestmark = pytest.mark.faults

DB_PASSWORD = "Kg-Pa55word-7f3c9e"


def with_password(url: str, password: str) -> str:
    """The same database URL with a password in its user-info (the embedded server trusts local users)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def test_unreachable_database_at_start_is_one_line_naming_it_password_masked_exit_1_nothing_attempted(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    port = closed_port()
    with IndexServer(projects(3)) as index:
        config = write_config(config_path, index.base_url)

        result = job.run(config=config, database_url=f"postgresql://thoth:{DB_PASSWORD}@127.0.0.1:{port}/kgdb")

        assert result.code == 1, result
        (line,) = result.error_lines
        assert f"127.0.0.1:{port}" in line, line
        assert "'kgdb'" in line, line
        assert DB_PASSWORD not in result.everything, result
        assert "Traceback" not in result.stderr, result
        assert index.requests == [], "nothing else may be attempted"
        assert not job.data_dir.exists(), "the embedded database must not be started instead"

        rerun = job.run(config=config, database_url=with_password(kg.url, DB_PASSWORD))

        assert rerun.code == 0, rerun
        assert DB_PASSWORD not in rerun.everything, rerun
        assert_rows_complete(kg, index)


def wait_for_a_new_session(kg: KnowledgeGraph, running: Running[Result], old: set[int]) -> None:
    """Wait until the job has opened a database session besides ``old`` (or has ended)."""
    wait_until(lambda: bool(set(kg.job_backends()) - old) or not running.running())


def test_connection_lost_mid_run_rolls_back_the_chunk_reconnects_and_completes(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(60, versions=2)) as index:
        gates = [index.hold("pkg-010"), index.hold("pkg-030")]
        config = write_config(config_path, index.base_url)
        running = start_in_chunks(job, config, kg.url)

        terminated = []
        for gate in gates:
            gate.wait_held(1, alive=running.running)  # mid-run, its session idle between two statements
            backends = set(kg.job_backends())
            assert backends, "the job holds a database session while it runs"
            terminated.append(kg.terminate_job_backends())
            gate.release()
            # The job notices at its next statement (recording the held chunk) and opens a new session.
            wait_for_a_new_session(kg, running, backends)
        result = running.wait()

        assert all(terminated), terminated
        assert result.code == 0, result
        assert result.stderr.count("reconnecting in") >= 2, result
        assert result.report["failure"] is None
        assert result.report["errors"] == []
        assert_rows_complete(kg, index)
        assert result.new_releases == normalized_model(index.projects())

        assert_rerun_adds_nothing(job, kg, config, index)


def test_a_second_run_on_the_same_database_and_shard_sees_the_lock_and_exits_0_without_work(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with IndexServer(projects(30, versions=2)) as index, index.hold("pkg-002") as gate:
        config = write_config(config_path, index.base_url)
        first = start_in_chunks(job, config, kg.url, chunk_size=2, concurrency=1)
        gate.wait_held(1, alive=first.running)  # the first run is held mid-scan, its chunks of pkg-000/001 done
        assert kg.job_holds_advisory_lock()

        second = job.run(config=config, database_url=kg.url)
        assert first.running(), "the first run must still hold the lock while the second runs"
        assert gate.held == 1, "... held where it was"
        gate.release()

        assert second.code == 0, second
        assert "lock" in (second.report["skipped"] or ""), second
        assert "Another run is in progress" in second.stderr, second
        assert second.report["indexes"] == []
        assert second.report["new_releases"] == []
        assert "skipped" in second.stderr

        result = first.wait()
        assert result.code == 0, result
        assert result.new_releases == normalized_model(index.projects())
        assert_rows_complete(kg, index)

        rerun = assert_rerun_adds_nothing(job, kg, config, index)
        assert rerun.report["skipped"] is None, "the lock is released at the end of a run"
