"""End-to-end fixtures: run ``app.py`` as a process against local servers and a fresh database.

``app`` runs the job the way an operator does (``python app.py ...`` from the repository root) with an
environment stripped of anything that could point it elsewhere (KNOWLEDGE_GRAPH_*, THOTH_PACKAGE_RELEASES_*,
push gateway, Sentry, proxies), and returns its exit code, output and parsed ``--report``. ``kg`` reads and
seeds the test's database directly with SQL, independently of the job's own code.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psycopg2
import pytest

from tests.support.servers import IndexServer

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_TIMEOUT = 90.0

# Variables the job reads that would make a run use another database, send metrics/errors elsewhere, pick
# another shard or go through a proxy; none of them may leak from the developer's or CI's environment.
_STRIPPED_PREFIXES = ("KNOWLEDGE_GRAPH_", "THOTH_PACKAGE_RELEASES_", "PROMETHEUS_PUSHGATEWAY_")
_STRIPPED_NAMES = frozenset(
    {"SENTRY_DSN", "THOTH_DEPLOYMENT_NAME", "JOB_COMPLETION_INDEX", "COLUMNS", "LINES", "NETRC"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)

SUMMARY_PREFIX = "Package releases"


def job_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment of a job process: ours minus the stripped variables, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(_STRIPPED_PREFIXES) and name.upper() not in _STRIPPED_NAMES
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class AppResult:
    """What one run of ``app.py`` did."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None

    def __str__(self) -> str:
        return f"app.py {' '.join(self.args)} -> exit {self.code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    @property
    def summary(self) -> str:
        """The first line of the text summary printed on stderr."""
        lines = [line for line in self.stderr.splitlines() if line.startswith(SUMMARY_PREFIX)]
        assert len(lines) == 1, f"expected one summary line\n{self}"
        return lines[0]

    @property
    def error_lines(self) -> list[str]:
        """The ``error: ...`` lines the CLI printed on stderr."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def new_releases(self) -> list[tuple[str, str, str]]:
        """The report's new releases as (name, version, index URL), in report order."""
        assert self.report is not None, f"no report\n{self}"
        return [(r["package_name"], r["package_version"], r["index_url"]) for r in self.report["new_releases"]]

    @property
    def errors(self) -> list[tuple[str | None, str | None, str]]:
        """The report's errors as (package name, index URL, message)."""
        assert self.report is not None, f"no report\n{self}"
        return [(e["package_name"], e["index_url"], e["error"]) for e in self.report["errors"]]

    def index(self, url: str) -> dict[str, Any]:
        """The report's counts for one index."""
        assert self.report is not None, f"no report\n{self}"
        matches = [index for index in self.report["indexes"] if index["url"] == url]
        assert len(matches) == 1, f"expected index {url} once in the report\n{self}"
        return matches[0]


class App(Protocol):
    def __call__(
        self,
        *args: str,
        database_url: str | None,
        env: Mapping[str, str] | None = None,
        report: bool = True,
        data_dir: Path | None = None,
    ) -> AppResult: ...


@pytest.fixture
def app(tmp_path: Path) -> App:
    """Run ``app.py`` in a subprocess: ``app("--config", path, database_url=url)``.

    ``database_url`` is passed as ``--database-url`` (None: not passed, so the embedded server in ``data_dir``,
    default ``<tmp_path>/data``, is used). ``report=True`` adds ``--report <file>`` and parses it. A run that
    prints a Python traceback fails the test.
    """
    counter = itertools.count()

    def run(
        *args: str,
        database_url: str | None,
        env: Mapping[str, str] | None = None,
        report: bool = True,
        data_dir: Path | None = None,
    ) -> AppResult:
        argv = list(args)
        if database_url is not None:
            argv += ["--database-url", database_url]
        # Never let a run fall back on the repository's own .thoth-data folder.
        argv += ["--data-dir", str(data_dir or tmp_path / "data")]
        report_path = tmp_path / f"report-{next(counter)}.json"
        if report:
            argv += ["--report", str(report_path)]
        completed = subprocess.run(
            [sys.executable, "app.py", *argv],
            cwd=REPO_ROOT,
            env=job_environment(env),
            capture_output=True,
            text=True,
            timeout=APP_TIMEOUT,
            check=False,
        )
        parsed = json.loads(report_path.read_text(encoding="utf-8")) if report and report_path.exists() else None
        result = AppResult(tuple(argv), completed.returncode, completed.stdout, completed.stderr, parsed)
        # Whatever happens, an operator gets messages, never a Python traceback.
        assert "Traceback (most recent call last)" not in result.stderr, f"the job crashed\n{result}"
        return result

    return run


# -- the knowledge graph, read and seeded with plain SQL ---------------------------------------------------


class KnowledgeGraph:
    """Direct SQL access to a test database (the job's own graph code is what is under test)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                return list(cursor.fetchall())
        finally:
            conn.close()

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        conn = psycopg2.connect(self.url)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, tuple(params))
                rows = list(cursor.fetchall()) if cursor.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def add_index(self, url: str, *, enabled: bool = True, only_if_package_seen: bool = True) -> int:
        (row,) = self.execute(
            "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
            " VALUES (%s, true, %s, %s) RETURNING id",
            (url, enabled, only_if_package_seen),
        )
        return int(row[0])

    def add_entity(self, name: str, version: str, index_id: int | None = None) -> int:
        (row,) = self.execute(
            "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
            " VALUES (%s, %s, %s) RETURNING id",
            (name, version, index_id),
        )
        return int(row[0])

    def add_rule(self, name: str, version_range: str | None, index_id: int | None = None) -> int:
        (row,) = self.execute(
            "INSERT INTO python_package_version_entity_rule (package_name, version_range, python_package_index_id,"
            " description) VALUES (%s, %s, %s, 'e2e test') RETURNING id",
            (name, version_range, index_id),
        )
        return int(row[0])

    def indexes(self) -> list[tuple[str, bool, bool]]:
        """(url, enabled, only_if_package_seen) of every registered index, by id."""
        return [
            (url, bool(enabled), bool(seen))
            for url, enabled, seen in self.query(
                "SELECT url, enabled, only_if_package_seen FROM python_package_index ORDER BY id"
            )
        ]

    def entities(self) -> list[tuple[str, str, str | None]]:
        """(name, version, index URL) of every version entity, sorted."""
        return self.query(
            "SELECT e.package_name, e.package_version, i.url FROM python_package_version_entity e"
            " LEFT JOIN python_package_index i ON i.id = e.python_package_index_id ORDER BY 1, 2, 3"
        )

    def rule_associations(self) -> list[tuple[str, str, int]]:
        """(name, version, rule id) of every entity-rule association, sorted."""
        return self.query(
            "SELECT e.package_name, e.package_version, a.python_package_version_entity_rule_id"
            " FROM python_package_version_entity_rules_association a"
            " JOIN python_package_version_entity e ON e.id = a.python_package_version_entity_id ORDER BY 1, 2, 3"
        )

    def count(self, table: str) -> int:
        """The number of rows in a table (a trusted, schema-qualified name)."""
        ((rows,),) = self.query(f"SELECT count(*) FROM {table}")
        return int(rows)

    def table_exists(self, table: str) -> bool:
        ((exists,),) = self.query("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return bool(exists)


@pytest.fixture
def kg(database_url: str) -> KnowledgeGraph:
    """The test's fresh, migrated database."""
    return KnowledgeGraph(database_url)


# -- servers and configuration -----------------------------------------------------------------------------


@pytest.fixture
def json_index() -> Iterator[IndexServer]:
    """An empty index serving PEP 691 JSON (and HTML to clients that prefer it)."""
    with IndexServer(formats=("json", "html")) as server:
        yield server


@pytest.fixture
def html_index() -> Iterator[IndexServer]:
    """An empty index serving PEP 503 HTML only."""
    with IndexServer(formats=("html",)) as server:
        yield server


class WriteConfig(Protocol):
    def __call__(self, text: str, name: str = ...) -> str: ...


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write a configuration file under tmp_path and return its path."""

    def write(text: str, name: str = "thoth.yaml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def index_config(url: str, *, only_if_package_seen: bool = True, packages: Sequence[str] = ()) -> str:
    """A current-format configuration naming one index and monitoring some packages (no triggers)."""
    lines = [
        "indexes:",
        f"  - url: {url}",
        f"    only_if_package_seen: {'true' if only_if_package_seen else 'false'}",
        "packages:" if packages else "packages: {}",
    ]
    lines += [f"  {name}: {{}}" for name in packages]
    return "\n".join(lines) + "\n"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """'1 package', '2 packages': how the summary counts things."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def summary_line(*, checked: int, indexes: int, new: int, dry_run: bool = False) -> re.Pattern[str]:
    """The exact summary line expected on stderr (only the duration may vary)."""
    dry = re.escape(" (dry run)") if dry_run else ""
    verb = "would insert" if dry_run else "inserted"
    releases = "no new releases" if new == 0 else f"{new} new release{'s' if new != 1 else ''}"
    return re.compile(
        rf"Package releases{dry}: checked {counted(checked, 'package')} on {counted(indexes, 'index', 'indexes')}"
        rf" and 0 feeds in \d+\.\d s; {verb} {releases}\."
    )
