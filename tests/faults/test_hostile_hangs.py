"""Hostile servers, issue 10 (1, 2): servers that trickle their headers one byte at a time.

Each byte arrives well within the read timeout, so only a total time limit per request (and a run that
honours --deadline and SIGTERM whatever the servers do) ends such a run. Every case is run with
``--timeout 0.5 --deadline 2``: a run that is still going ``BOUND`` seconds later is hanging.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.faults.conftest import Certificate, Job, KnowledgeGraph
from tests.faults.hostile_fixtures import (
    Serve,
    postgres_processes,
    scan_config,
    server_tls,
    trusting,
    write_yaml,
)
from tests.faults.hostile_fixtures import embedded_data_dir as embedded_data_dir  # a fixture
from tests.faults.hostile_fixtures import serve as serve  # a fixture
from tests.support.hostile import Index, Reply, Routes, ok, trickling, wait_for

pytestmark = pytest.mark.faults

LIMITS = ("--timeout", "0.5", "--deadline", "2")
BOUND = 12.0  # seconds: 4 attempts of 0.5 s, their backoff (at most 5.25 s), start-up and the database
TRICKLE = 0.2  # seconds between two bytes of a trickled head: well within the read timeout; its ~1 kB take minutes
PROJECTS = {"alpha": ["1.0", "1.1"], "beta": ["2.0"], "gamma": ["0.1"]}
ROWS = {(name, version) for name, versions in PROJECTS.items() for version in versions}


def _hooked(config_path: Path, index_url: str, hook_url: str) -> str:
    return scan_config(config_path, index_url, packages={"alpha": {"triggers": [{"url": hook_url}]}})


def test_webhook_trickling_its_headers_cannot_outlast_the_deadline(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: trickling(TRICKLE)))
    config = _hooked(config_path, f"{index.url}/simple", f"{hook.url}/hook")

    result = job.run(*LIMITS, config=config, database_url=kg.url, timeout=BOUND + 2)

    assert result.seconds < BOUND, result
    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS
    assert {status for _, _, status, _ in kg.outbox()} <= {"pending", "failed"}, kg.outbox()

    hook.responder = Routes(fallback=lambda _: Reply(200, "OK"))
    rerun = job.run(config=config, database_url=kg.url)

    assert rerun.code == 0, rerun
    assert {status for _, _, status, _ in kg.outbox()} == {"sent"}, kg.outbox()


def test_sigterm_while_a_webhook_trickles_exits_143_with_a_report_and_stops_the_embedded_postgres(
    job: Job, config_path: Path, serve: Serve, embedded_data_dir: Path
) -> None:
    index = serve(Index(dict(PROJECTS)).routes())
    hook = serve(Routes(fallback=lambda _: trickling(TRICKLE)))
    config = _hooked(config_path, f"{index.url}/simple", f"{hook.url}/hook")
    running = job.start("--timeout", "1", config=config)  # no --database-url: the embedded PostgreSQL
    assert wait_for(lambda: hook.requests != [] or not running.running(), 60), "the webhook was never called"
    assert running.running(), running.wait()
    assert postgres_processes(embedded_data_dir), "the embedded PostgreSQL runs"

    sent_at = running.signal(signal.SIGTERM)
    result = running.wait(timeout=8)
    stopped_in = time.monotonic() - sent_at

    assert result.code == 143, result
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop\n{result}"
    assert "SIGTERM" in (result.report["interrupted"] or ""), result
    assert wait_for(lambda: postgres_processes(embedded_data_dir) == [], 5), "the embedded PostgreSQL still runs"


def test_index_page_trickling_its_headers_fails_alone_within_the_bound(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    routes = Index(dict(PROJECTS)).routes()
    routes.set("/simple/beta/", trickling(TRICKLE))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(*LIMITS, config=config, database_url=kg.url, timeout=BOUND + 2)

    assert result.seconds < BOUND, result
    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS - {("beta", "2.0")}
    assert result.errors_for("beta"), result


def test_index_listing_trickling_its_headers_ends_within_the_bound(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    routes = Index(dict(PROJECTS)).routes()
    routes.set("/simple/", trickling(TRICKLE))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")

    result = job.run(*LIMITS, config=config, database_url=kg.url, timeout=BOUND + 2)

    assert result.seconds < BOUND, result
    assert result.code in (0, 1), result
    assert result.index(f"{index.url}/simple")["error"], result


def test_sigterm_while_an_index_page_trickles_exits_143_within_seconds(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve
) -> None:
    routes = Index(dict(PROJECTS)).routes()
    routes.set("/simple/beta/", trickling(TRICKLE))
    index = serve(routes)
    config = scan_config(config_path, f"{index.url}/simple")
    running = job.start("--timeout", "2", config=config, database_url=kg.url)
    assert wait_for(lambda: "/simple/beta/" in index.paths or not running.running(), 30)
    assert running.running(), running.wait()

    sent_at = running.signal(signal.SIGTERM)
    result = running.wait(timeout=15)
    stopped_in = time.monotonic() - sent_at

    assert result.code == 143, result
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop\n{result}"
    assert result.report["interrupted"], result


def _config_server(serve: Serve, certificate: Certificate, reply: Reply) -> str:
    """An https configuration URL (trusted through REQUESTS_CA_BUNDLE) answered with ``reply``."""
    server = serve(Routes({"/thoth.yaml": reply}), tls=server_tls(certificate))
    return f"{server.url}/thoth.yaml"


def test_configuration_url_trickling_its_headers_is_exit_2_within_the_bound(
    job: Job, kg: KnowledgeGraph, serve: Serve, self_signed: Certificate
) -> None:
    url = _config_server(serve, self_signed, trickling(TRICKLE))

    result = job.run(*LIMITS, config=url, database_url=kg.url, env=trusting(self_signed), timeout=BOUND + 2)

    assert result.seconds < BOUND, result
    assert result.code == 2, result
    assert len(result.error_lines) == 1, result


def test_sigterm_while_the_configuration_url_trickles_exits_143_with_a_report(
    job: Job, kg: KnowledgeGraph, serve: Serve, self_signed: Certificate
) -> None:
    server = serve(Routes({"/thoth.yaml": trickling(TRICKLE)}), tls=server_tls(self_signed))
    running = job.start(config=f"{server.url}/thoth.yaml", database_url=kg.url, env=trusting(self_signed))
    assert wait_for(lambda: server.requests != [] or not running.running(), 30)
    assert running.running(), running.wait()

    sent_at = running.signal(signal.SIGTERM)
    result = running.wait(timeout=8)
    stopped_in = time.monotonic() - sent_at

    assert result.code == 143, result
    assert stopped_in < 5, f"took {stopped_in:.1f} s to stop\n{result}"
    assert result.report_text is not None, result


def test_configuration_over_https_is_read(
    job: Job, kg: KnowledgeGraph, config_path: Path, serve: Serve, self_signed: Certificate
) -> None:
    """The control case of the configuration tests: a sane configuration over https is read and used."""
    index = serve(Index(dict(PROJECTS)).routes())
    text = Path(scan_config(config_path, f"{index.url}/simple")).read_bytes()
    url = _config_server(serve, self_signed, ok(text, "application/yaml"))

    result = job.run(config=url, database_url=kg.url, env=trusting(self_signed))

    assert result.code == 0, result
    assert set(kg.rows(f"{index.url}/simple")) == ROWS


def test_write_yaml_round_trips(config_path: Path) -> None:
    """A check of the helper the configuration tests rely on."""
    path = write_yaml(config_path, {"packages": {"alpha": None}})
    assert Path(path).read_text(encoding="utf-8") == "packages:\n  alpha: null\n"
