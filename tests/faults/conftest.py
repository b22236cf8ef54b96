"""Fixtures of the fault matrix: ``app.py`` as a real process, real local servers broken on purpose, a real database.

``job.run(...)`` runs the job to completion; ``job.start(...)`` starts it and returns a handle to signal it,
wait for it or kill it (:mod:`tests.support.app`, which the e2e ``app`` fixture runs the job with too). Every run
gets the environment stripped of whatever could point it elsewhere (``job_environment``), a HOME of its own (so
no developer ``~/.netrc`` leaks in) and ``--data-dir``/``--report`` under the test's tmp_path.
``kg`` reads the test's database with plain SQL (:mod:`tests.support.graph`). ``normalized_model`` turns an
IndexServer's model into the rows a run without faults leaves (names and versions normalized the way
thoth-storages stores them), and ``assert_rows_complete`` checks that the graph holds exactly those rows, each once.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.support.app import APP_TIMEOUT, REPO_ROOT, AppOutput, Launcher, Running
from tests.support.graph import KnowledgeGraph as KnowledgeGraph  # the fault tests import it from here
from tests.support.servers import IndexServer, WebhookReceiver
from tests.support.servers.base import BaseServer
from tests.support.servers.handler import LocalHTTPServer

# -- the job as a process ----------------------------------------------------------------------------------

GATED = ("--timeout", "30")
"""Options of a run a test holds at a gate: a held request must not time out while the test acts (the lower
--timeout of the defaults would turn a busy machine's slowness into retries and failures)."""


class Result(AppOutput):
    """What one process of ``app.py`` did, as the fault tests read it."""

    def errors_for(self, package: str) -> list[str]:
        return [e["error"] for e in self.report["errors"] if e["package_name"] == package]

    @property
    def new_releases(self) -> set[tuple[str, str]]:
        return {(r["package_name"], r["package_version"]) for r in self.report["new_releases"]}


class Job(Launcher[Result]):
    """Runs ``app.py`` the way an operator does; default options keep the runs short (overridable: last wins)."""

    DEFAULTS = ("--timeout", "2", "--concurrency", "4", "--quiet")

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, Result)
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.data_dir = tmp_path / "data"

    def start(
        self,
        *args: str,
        config: str | None = None,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO_ROOT,
        report: bool = True,
        defaults: bool = True,
        data_dir: bool = True,
    ) -> Running[Result]:
        argv = list(self.DEFAULTS if defaults else ())
        if config is not None:
            argv += ["--config", config]
        if database_url is not None:
            argv += ["--database-url", database_url]
        if data_dir:  # without it the job's default, .thoth-data in the working directory, applies
            argv += ["--data-dir", str(self.data_dir)]
        argv += list(args)
        # This test's own HOME (no developer ~/.netrc) and no .pyc writes, on top of the stripped environment.
        extra = {"HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return self.launch(argv, report=report, env=extra, cwd=cwd)

    def run(self, *args: str, timeout: float = APP_TIMEOUT, **kwargs: Any) -> Result:
        return self.start(*args, **kwargs).wait(timeout)


@pytest.fixture
def job(tmp_path: Path) -> Iterator[Job]:
    runner = Job(tmp_path)
    yield runner
    runner.cleanup()


# -- configuration -------------------------------------------------------------------------------------------


def write_config(
    path: Path,
    *index_urls: str,
    verify_ssl: bool = True,
    packages: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> str:
    """Write a current-format configuration: indexes checked in full (listing), monitored packages with triggers."""
    document: dict[str, Any] = {
        "indexes": [{"url": url, "only_if_package_seen": False, "verify_ssl": verify_ssl} for url in index_urls],
        "packages": {name: {"triggers": list(triggers)} for name, triggers in (packages or {}).items()},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "thoth.yaml"


# -- the knowledge graph, read with plain SQL --------------------------------------------------------------


@pytest.fixture
def kg(database_url: str) -> KnowledgeGraph:
    return KnowledgeGraph(database_url)


# -- expectations ----------------------------------------------------------------------------------------------


def normalized_model(projects: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
    """The rows a faultless run leaves for an index: PEP 503 names, PEP 440 versions, invalid versions skipped."""
    rows = set()
    for name, versions in projects.items():
        for version in versions:
            try:
                rows.add((str(canonicalize_name(name)), str(Version(version))))
            except InvalidVersion:
                continue
    return rows


def assert_rows_complete(kg: KnowledgeGraph, index: IndexServer) -> None:
    """The index's rows in the graph are exactly the server's model, each once."""
    rows = kg.rows(index.base_url)
    duplicates = [row for row, count in Counter(rows).items() if count > 1]
    assert duplicates == [], f"duplicate rows: {duplicates}"
    expected = normalized_model(index.projects())
    assert set(rows) == expected, f"missing {sorted(expected - set(rows))}, unexpected {sorted(set(rows) - expected)}"


def assert_no_duplicates_and_subset(kg: KnowledgeGraph, index: IndexServer) -> set[tuple[str, str]]:
    """After an interrupted run: no duplicate, nothing the index does not have; return the rows."""
    rows = kg.rows(index.base_url)
    assert [row for row, count in Counter(rows).items() if count > 1] == []
    assert set(rows) <= normalized_model(index.projects())
    return set(rows)


def assert_projects_whole(kg: KnowledgeGraph, index: IndexServer) -> None:
    """Every project of the index is in the graph with all its versions or with none: nothing half-way."""
    rows = set(kg.rows(index.base_url))
    model = normalized_model(index.projects())
    by_project: dict[str, set[str]] = {}
    for name, version in model:
        by_project.setdefault(name, set()).add(version)
    for name, versions in by_project.items():
        present = {version for row_name, version in rows if row_name == name}
        assert present in (set(), versions), f"{name}: {sorted(present)} of {sorted(versions)}"


def assert_rerun_adds_nothing(job: Job, kg: KnowledgeGraph, config: str, *indexes: IndexServer) -> Result:
    """A re-run on the same database ends well and inserts nothing: every index's rows are complete, each once."""
    rerun = job.run(config=config, database_url=kg.url)
    assert rerun.code == 0, rerun
    assert rerun.new_releases == set(), f"a re-run inserts nothing new\n{rerun}"
    for index in indexes:
        assert_rows_complete(kg, index)
    return rerun


def projects(count: int, versions: int = 3, prefix: str = "pkg") -> dict[str, list[str]]:
    return {f"{prefix}-{i:03d}": [f"1.{v}.0" for v in range(versions)] for i in range(count)}


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def start_in_chunks(
    job: Job, config: str, database_url: str, *, chunk_size: int = 3, concurrency: int = 2
) -> Running[Result]:
    """Start a run of small chunks, a few requests at a time, for a test to hold at a gate and act on mid-run."""
    return job.start(
        *GATED,
        "--chunk-size",
        str(chunk_size),
        "--concurrency",
        str(concurrency),
        config=config,
        database_url=database_url,
    )


def wait_for_stderr(running: Running[Result], text: str) -> None:
    """Wait until the running job has printed ``text`` on stderr; a job that ended before that fails the test."""
    wait_until(lambda: text in running.stderr_so_far() or not running.running())
    assert text in running.stderr_so_far(), running.wait()


def wait_past(moment: float) -> None:
    """Return once ``time.monotonic()`` (one clock for every process of the machine) has passed ``moment``."""
    while (remaining := moment - time.monotonic()) >= 0:
        time.sleep(remaining + 0.01)


def arrivals(server: BaseServer, path: str) -> list[float]:
    """When each request for ``path`` reached the server (``time.monotonic()``), oldest first."""
    return [request.received for request in server.requests if request.path == path]


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_requests(index: IndexServer, name: str) -> int:
    path = f"/simple/{name}/"
    return sum(1 for r in index.requests if r.path == path)


# -- TLS ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, trusted by nobody."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(cert_path, key_path)


class _TLSServing(BaseServer):
    """The same server behind HTTPS with a self-signed certificate (put first among the bases)."""

    def __init__(self, *args: Any, certificate: Certificate, **kwargs: Any) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate.cert, certificate.key)
        super().__init__(*args, **kwargs)

    def _bind(self) -> LocalHTTPServer:
        httpd = super()._bind()
        httpd.socket = self._context.wrap_socket(httpd.socket, server_side=True)
        return httpd

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (no trailing slash)."""
        return f"https://127.0.0.1:{self.port}"


class TLSIndexServer(_TLSServing, IndexServer):
    """An IndexServer behind HTTPS: ``TLSIndexServer(projects, certificate=...)``."""


class TLSWebhookReceiver(_TLSServing, WebhookReceiver):
    """A WebhookReceiver behind HTTPS: ``TLSWebhookReceiver(certificate=...)``."""
