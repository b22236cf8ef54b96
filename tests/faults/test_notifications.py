"""Fault matrix: the webhook receiver of a trigger down, slow, or answering 4xx/5xx.

Per the outbox rules a failed delivery is retried (up to 3 tries per run), kept pending with its attempt count,
and marked dead after --notification-attempts attempts; the releases are committed whatever happens to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import Job, KnowledgeGraph, assert_rows_complete, projects, write_config
from tests.support.servers import IndexServer, WebhookReceiver

pytestmark = pytest.mark.faults

HOOKED = "pkg-000"


def index_with_a_hooked_release() -> IndexServer:
    """An index of 4 projects; HOOKED has a single release, so a run queues exactly one notification."""
    model = projects(4)
    model[HOOKED] = ["1.0.0"]
    return IndexServer(model)


def configure(config_path: Path, index: IndexServer, receiver: WebhookReceiver) -> str:
    return write_config(config_path, index.base_url, packages={HOOKED: [{"url": f"{receiver.url}/hook"}]})


def test_receiver_answering_4xx_keeps_the_notification_pending_then_dead_after_the_attempts(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with index_with_a_hooked_release() as index, WebhookReceiver(default_status=404) as receiver:
        config = configure(config_path, index, receiver)

        first = job.run("--notification-attempts", "2", config=config, database_url=kg.url)

        assert first.code == 0, first
        assert_rows_complete(kg, index)  # the writes never wait for the receiver
        assert len(receiver.requests) == 1, "a 4xx is not retried within the run"
        assert kg.outbox() == [(HOOKED, "1.0.0", "pending", 1)]
        assert first.report["notifications"] == {"sent": 0, "failed": 1, "pending": 1, "dead": 0}

        second = job.run("--notification-attempts", "2", config=config, database_url=kg.url)

        assert second.code == 0, second
        assert len(receiver.requests) == 2
        assert kg.outbox() == [(HOOKED, "1.0.0", "dead", 2)]
        assert second.report["notifications"]["dead"] == 1

        third = job.run("--notification-attempts", "2", config=config, database_url=kg.url)

        assert third.code == 0, third
        assert len(receiver.requests) == 2, "a dead notification is not sent again"
        assert_rows_complete(kg, index)


def test_receiver_answering_5xx_is_retried_within_the_run(job: Job, kg: KnowledgeGraph, config_path: Path) -> None:
    with index_with_a_hooked_release() as index, WebhookReceiver() as receiver:
        receiver.respond_with([503])  # then 200
        config = configure(config_path, index, receiver)

        result = job.run(config=config, database_url=kg.url)

        assert result.code == 0, result
        assert [r.status for r in receiver.requests] == [503, 200]
        assert [body["package_version"] for body in receiver.json_bodies()] == ["1.0.0", "1.0.0"]
        assert kg.outbox() == [(HOOKED, "1.0.0", "sent", 2)]
        assert result.report["notifications"] == {"sent": 1, "failed": 0, "pending": 0, "dead": 0}
        assert_rows_complete(kg, index)


def test_receiver_down_keeps_the_notification_pending_and_the_next_run_delivers_it(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with index_with_a_hooked_release() as index, WebhookReceiver() as receiver:
        config = configure(config_path, index, receiver)
        receiver.down()

        first = job.run(config=config, database_url=kg.url)

        assert first.code == 0, first
        assert_rows_complete(kg, index)
        ((name, version, status, attempts),) = kg.outbox()
        assert (name, version, status) == (HOOKED, "1.0.0", "pending")
        assert attempts == 3, "3 tries per run, with backoff"
        assert first.report["notifications"] == {"sent": 0, "failed": 1, "pending": 1, "dead": 0}
        assert "connection refused by 127.0.0.1:" in first.stderr

        receiver.up()
        second = job.run(config=config, database_url=kg.url)

        assert second.code == 0, second
        assert len(receiver.requests) == 1
        assert kg.outbox() == [(HOOKED, "1.0.0", "sent", 4)]
        assert second.report["notifications"]["sent"] == 1
        assert_rows_complete(kg, index)


def test_slow_receiver_times_out_and_is_dead_after_the_attempts_without_holding_up_the_writes(
    job: Job, kg: KnowledgeGraph, config_path: Path
) -> None:
    with index_with_a_hooked_release() as index, WebhookReceiver() as receiver, receiver.hold() as gate:
        config = configure(config_path, index, receiver)

        result = job.run("--timeout", "1", "--notification-attempts", "1", config=config, database_url=kg.url)

        assert result.code == 0, result
        gate.wait_held(1)  # the delivery still waits for its answer (never given): the run ended without it
        assert gate.arrived == 1
        assert_rows_complete(kg, index)
        assert len(receiver.requests) == 1
        assert kg.outbox() == [(HOOKED, "1.0.0", "dead", 1)]
        assert result.report["notifications"] == {"sent": 0, "failed": 1, "pending": 0, "dead": 1}
        assert "timed out" in result.stderr.lower() or "timeout" in result.stderr.lower(), result
