"""Fixtures and checks shared by the hostile-server tests (issue 10).

``serve`` starts a :class:`~tests.support.hostile.HostileServer` for the test (stopped at teardown);
``run_measured`` runs the job while watching its peak resident memory and wall time, killing it past a bound;
``assert_never_shown`` and ``assert_not_stored`` look for a secret in every output and in the job's tables.
"""

from __future__ import annotations

import os
import resource
import signal
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.conftest import Certificate, Job, KnowledgeGraph, Result
from tests.support.hostile import HostileServer, Responder, peak_rss_kib, processes_using, wait_for

# The pod's memory limit is 384Mi; the job must stay well below it whatever the servers send.
MEMORY_LIMIT_MB = 300.0

Serve = Callable[..., HostileServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start hostile servers for a test: ``serve(responder, tls=None)``; all are stopped at teardown."""
    started: list[HostileServer] = []

    def start(responder: Responder, *, tls: ssl.SSLContext | None = None) -> HostileServer:
        server = HostileServer(responder, tls=tls).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


def server_tls(certificate: Certificate) -> ssl.SSLContext:
    """A server-side TLS context with the test's self-signed certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    return context


def trusting(certificate: Certificate) -> dict[str, str]:
    """Environment that makes the job's requests trust the test's self-signed certificate."""
    return {"REQUESTS_CA_BUNDLE": str(certificate.cert)}


def write_yaml(path: Path, document: Mapping[str, Any]) -> str:
    """Write a configuration document and return its path as the job's --config value."""
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=False), encoding="utf-8")
    return str(path)


def scan_config(path: Path, index_url: str, **extra: Any) -> str:
    """A configuration checking every listed project of one index (no feeds), plus extra sections."""
    document: dict[str, Any] = {"indexes": [{"url": index_url, "only_if_package_seen": False}], **extra}
    return write_yaml(path, document)


# -- secrets ---------------------------------------------------------------------------------------------------


def assert_never_shown(secret: str, *results: Result) -> None:
    """The secret is in no standard output, standard error or report of these runs."""
    for result in results:
        assert secret not in result.everything, f"{secret!r} shown\n{result}"


def assert_not_stored(kg: KnowledgeGraph, secret: str) -> None:
    """The secret is in none of the job's tables that keep text (outbox errors, run summaries)."""
    stored = kg.stored_text()
    assert secret not in stored, f"{secret!r} stored in the job's tables:\n{stored[:2000]}"


def assert_no_control_characters(text: str) -> None:
    bad = sorted({hex(ord(c)) for c in text if ord(c) < 0x20 and c not in "\t\n"})
    assert bad == [], f"control characters {bad} in {text[:300]!r}"


# -- memory and time -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """A run watched from outside: what it did (None when killed), its peak RSS and its wall time."""

    result: Result | None
    peak_mb: float
    seconds: float
    killed: str | None  # why the watcher killed it, if it did

    def __str__(self) -> str:
        return f"peak RSS {self.peak_mb:.0f} MB, {self.seconds:.1f} s, killed: {self.killed}\n{self.result}"


def run_measured(job: Job, *args: str, limit_mb: float | None, timeout: float, **kwargs: Any) -> Measured:
    """Run the job, polling its peak RSS (VmHWM) and reaping it with wait4 (ru_maxrss).

    The process is killed once its peak exceeds ``limit_mb`` (None: never) or after ``timeout`` seconds.
    Linux keeps a process's ``ru_maxrss`` across exec, and a child spawned with vfork or fork starts from the
    high-water mark of the test process's own memory: a ``ru_maxrss`` not above the test process's peak at
    the spawn may be the test's, not the job's, and is not taken (the polled VmHWM, which is the job's own
    memory since exec, is).
    """
    running = job.start(*args, **kwargs)
    spawner_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pid = running.process.pid
    started = time.monotonic()
    peak_kib = 0
    killed: str | None = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            break
        peak_kib = max(peak_kib, peak_rss_kib(pid) or 0)
        if killed is None and limit_mb is not None and peak_kib / 1024 > limit_mb:
            killed = f"peak RSS above {limit_mb:.0f} MB"
        elif killed is None and time.monotonic() - started > timeout:
            killed = f"still running after {timeout:.0f} s"
        if killed is not None:
            os.kill(pid, signal.SIGKILL)
            done, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    if usage.ru_maxrss > spawner_kib:  # KiB on Linux; only then surely the job's own
        peak_kib = max(peak_kib, usage.ru_maxrss)
    running.process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    result = None if killed else running.wait(5)
    return Measured(result, peak_kib / 1024, seconds, killed)


# -- the embedded PostgreSQL -----------------------------------------------------------------------------------


def postgres_processes(data_dir: Path) -> list[int]:
    """The PostgreSQL processes serving a data folder (the embedded server keeps its data in DATA/pgdata)."""
    return processes_using(str(data_dir.resolve() / "pgdata"))


@pytest.fixture
def embedded_data_dir(job: Job) -> Iterator[Path]:
    """The job's --data-dir; a PostgreSQL a test's run leaves behind there is stopped at teardown."""
    yield job.data_dir
    for pid in postgres_processes(job.data_dir):
        try:
            os.kill(pid, signal.SIGTERM)  # the postmaster shuts its children down
        except OSError:
            continue
    wait_for(lambda: postgres_processes(job.data_dir) == [], 10)
