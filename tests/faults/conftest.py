"""Fixtures of the fault matrix: ``app.py`` as a real process, real local servers broken on purpose, a real database.

``job.run(...)`` runs the job to completion; ``job.start(...)`` starts it and returns a handle to signal it,
wait for it or kill it (the e2e ``app`` fixture only runs to completion). Every run gets the e2e tests'
environment, stripped of whatever could point it elsewhere (``job_environment``), a HOME of its own (so no
developer ``~/.netrc`` leaks in) and ``--data-dir``/``--report`` under the test's tmp_path.
``kg`` reads the test's database with plain SQL. ``normalized_model`` turns an IndexServer's model into the
rows a run without faults leaves (names and versions normalized the way thoth-storages stores them), and
``assert_rows_complete`` checks that the graph holds exactly those rows, each once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.e2e.conftest import job_environment
from tests.support.servers import IndexServer, WebhookReceiver

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
APP_TIMEOUT = 90.0
APPLICATION_NAME = "thoth-package-releases"
STATE = "thoth_package_releases"

# -- the job as a process ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """What one process of ``app.py`` did."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    report_text: str | None
    seconds: float

    def __str__(self) -> str:
        return (
            f"app.py {' '.join(self.args)}\n-> exit {self.code} after {self.seconds:.1f} s\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}--- report\n{self.report_text}"
        )

    @property
    def report(self) -> dict[str, Any]:
        assert self.report_text is not None, f"no report was written\n{self}"
        parsed: dict[str, Any] = json.loads(self.report_text)
        return parsed

    @property
    def everything(self) -> str:
        """Standard output, standard error and the report: where a secret must never show up."""
        return self.stdout + self.stderr + (self.report_text or "")

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def index(self, url: str) -> dict[str, Any]:
        matches = [index for index in self.report["indexes"] if index["url"] == url]
        assert len(matches) == 1, f"expected index {url} once in the report\n{self}"
        return matches[0]

    def errors_for(self, package: str) -> list[str]:
        return [e["error"] for e in self.report["errors"] if e["package_name"] == package]

    @property
    def new_releases(self) -> set[tuple[str, str]]:
        return {(r["package_name"], r["package_version"]) for r in self.report["new_releases"]}


class Running:
    """A job process started in the background."""

    def __init__(self, args: Sequence[str], process: subprocess.Popen[bytes], out: Path, err: Path, report: Path):
        self.args = tuple(args)
        self.process = process
        self._out, self._err, self._report = out, err, report
        self.started = time.monotonic()

    def running(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> float:
        """Send a signal; return the monotonic time it was sent."""
        self.process.send_signal(signum)
        return time.monotonic()

    def stderr_so_far(self) -> str:
        return self._err.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = APP_TIMEOUT) -> Result:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"app.py did not end within {timeout} s\n{self.stderr_so_far()}") from None
        report = self._report.read_text(encoding="utf-8") if self._report.exists() else None
        return Result(
            self.args,
            self.process.returncode,
            self._out.read_text(encoding="utf-8", errors="replace"),
            self._err.read_text(encoding="utf-8", errors="replace"),
            report,
            time.monotonic() - self.started,
        )

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()


class Job:
    """Runs ``app.py`` the way an operator does; default options keep the runs short (overridable: last wins)."""

    DEFAULTS = ("--timeout", "2", "--concurrency", "4", "--quiet")

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.data_dir = tmp_path / "data"
        self._counter = itertools.count()
        self._running: list[Running] = []

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The e2e tests' stripped environment, with this test's own HOME (no developer ~/.netrc) and no .pyc writes."""
        return job_environment({"HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1", **(extra or {})})

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
    ) -> Running:
        number = next(self._counter)
        argv = list(self.DEFAULTS if defaults else ())
        if config is not None:
            argv += ["--config", config]
        if database_url is not None:
            argv += ["--database-url", database_url]
        if data_dir:  # without it the job's default, .thoth-data in the working directory, applies
            argv += ["--data-dir", str(self.data_dir)]
        report_path = self.tmp_path / f"report-{number}.json"
        if report:
            argv += ["--report", str(report_path)]
        argv += list(args)
        out, err = self.tmp_path / f"stdout-{number}.txt", self.tmp_path / f"stderr-{number}.txt"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(APP), *argv],
                cwd=cwd,
                env=self.environment(env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        running = Running(argv, process, out, err, report_path)
        self._running.append(running)
        return running

    def run(self, *args: str, timeout: float = APP_TIMEOUT, **kwargs: Any) -> Result:
        return self.start(*args, **kwargs).wait(timeout)

    def cleanup(self) -> None:
        for running in self._running:
            running.kill()


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


class KnowledgeGraph:
    """Direct SQL access to the test's database (the job's own graph code is what is under test)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.url)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    def add_index(self, url: str, *, verify_ssl: bool = True) -> int:
        (row,) = self.query(
            "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
            " VALUES (%s, %s, true, false) RETURNING id",
            (url, verify_ssl),
        )
        return int(row[0])

    def index_urls(self) -> list[str]:
        return [url for (url,) in self.query("SELECT url FROM python_package_index ORDER BY id")]

    def rows(self, index_url: str) -> list[tuple[str, str]]:
        """(name, version) of every version entity on an index, duplicates kept."""
        return [
            (name, version)
            for name, version in self.query(
                "SELECT e.package_name, e.package_version FROM python_package_version_entity e"
                " JOIN python_package_index i ON i.id = e.python_package_index_id WHERE i.url = %s ORDER BY 1, 2",
                (index_url,),
            )
        ]

    def outbox(self) -> list[tuple[str, str, str, int]]:
        """(name, version, status, attempts) of every queued notification."""
        return self.query(f"SELECT package_name, package_version, status, attempts FROM {STATE}.outbox ORDER BY 1, 2")

    def job_backends(self) -> list[int]:
        return [
            pid
            for (pid,) in self.query(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            )
        ]

    def terminate_job_backends(self) -> int:
        """Kill the job's database sessions, as a failover or a DBA would."""
        rows = self.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        )
        return sum(1 for (done,) in rows if done)

    def job_holds_advisory_lock(self) -> bool:
        rows = self.query(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = %s"
            " AND a.datname = current_database()",
            (APPLICATION_NAME,),
        )
        return bool(rows[0][0])


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


def projects(count: int, versions: int = 3, prefix: str = "pkg") -> dict[str, list[str]]:
    return {f"{prefix}-{i:03d}": [f"1.{v}.0" for v in range(versions)] for i in range(count)}


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_requests(index: IndexServer, name: str) -> int:
    path = f"/simple/{name}/"
    return sum(1 for r in index.requests if r.path == path)


# -- servers that record when requests arrive, and TLS ---------------------------------------------------------


class TimedIndexServer(IndexServer):
    """An IndexServer that remembers when each request for a path arrived (monotonic clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: dict[str, list[float]] = {}
        self._arrivals_lock = threading.Lock()

    def _handle(self, handler: Any) -> None:
        with self._arrivals_lock:
            self.arrivals.setdefault(handler.path, []).append(time.monotonic())
        super()._handle(handler)


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


def _tls_server_class(base: type[Any]) -> type[Any]:
    import ssl

    class TLS(base):  # type: ignore[misc, valid-type]
        """The same server behind HTTPS with a self-signed certificate."""

        def __init__(self, *args: Any, certificate: Certificate, **kwargs: Any) -> None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(certificate.cert, certificate.key)
            super().__init__(*args, **kwargs)

        def _bind(self) -> Any:
            httpd = super()._bind()
            httpd.socket = self._context.wrap_socket(httpd.socket, server_side=True)
            return httpd

        @property
        def url(self) -> str:
            return f"https://127.0.0.1:{self.port}"

    TLS.__name__ = f"TLS{base.__name__}"
    return TLS


TLSIndexServer = _tls_server_class(IndexServer)
TLSWebhookReceiver = _tls_server_class(WebhookReceiver)
