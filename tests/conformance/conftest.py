"""Conformance fixtures: ``app.py`` as a process against real index servers started on 127.0.0.1 (issue 11).

``job`` runs the job with a ``thoth.yaml`` naming the index under test and ``--no-feeds``; ``kg`` reads the test's
fresh database with plain SQL (the session's PostgreSQL and ``database_url`` come from ``tests/conftest.py``).
Each server fixture starts its server for one test and always stops it; start times and the content types the
servers answered with are printed at the end of the session.
"""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.app import APP_TIMEOUT, AppOutput, Launcher
from tests.support.graph import KnowledgeGraph
from tests.support.realservers import (
    DevpiIndex,
    DevpiServer,
    Probe,
    PypiServer,
    RealServer,
    ServerUnavailable,
    StaticIndex,
)

_START_TIMES: dict[str, list[float]] = defaultdict(list)
_CONTENT_TYPES: dict[str, set[str]] = defaultdict(set)


def index_config(url: str, *, only_if_package_seen: bool | None = None, packages: tuple[str, ...] = ()) -> str:
    """A ``thoth.yaml`` registering one index (``only_if_package_seen`` written only when given) and packages."""
    lines = ["indexes:", f"  - url: {url}"]
    if only_if_package_seen is not None:
        lines.append(f"    only_if_package_seen: {str(only_if_package_seen).lower()}")
    lines.append("packages:" if packages else "packages: {}")
    lines += [f"  {name}: {{}}" for name in packages]
    return "\n".join(lines) + "\n"


class Job(Launcher[AppOutput]):
    """Runs ``app.py --config <thoth.yaml> --no-feeds`` against the test's database, with a ``--report``."""

    def __init__(self, folder: Path, database_url: str) -> None:
        super().__init__(folder, AppOutput)
        self.database_url = database_url
        self._configs = 0

    def __call__(self, config: str, *args: str) -> AppOutput:
        """Run to completion with ``config`` (YAML text) and return what the run did."""
        self._configs += 1
        path = self.folder / f"thoth-{self._configs}.yaml"
        path.write_text(textwrap.dedent(config), encoding="utf-8")
        argv = ["--config", str(path), "--no-feeds", "--quiet", "--database-url", self.database_url]
        argv += ["--data-dir", str(self.folder / "data"), *args]
        result = self.launch(argv, report=True, env=None).wait(APP_TIMEOUT)
        assert "Traceback (most recent call last)" not in result.stderr, f"the job crashed\n{result}"
        return result


@pytest.fixture
def kg(database_url: str) -> KnowledgeGraph:
    """The test's fresh, migrated database."""
    return KnowledgeGraph(database_url)


@pytest.fixture
def job(tmp_path: Path, database_url: str) -> Iterator[Job]:
    """Runs the job (see :class:`Job`); a process a failed test leaves running is killed."""
    runner = Job(tmp_path, database_url)
    yield runner
    runner.cleanup()


def _started(server: RealServer) -> None:
    if server.started_in is not None:
        _START_TIMES[server.name].append(server.started_in)


def record_content_type(server: str, answer: Probe) -> None:
    """Remember what a server answered with, for the session's closing note."""
    _CONTENT_TYPES[server].add(answer.media_type)


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[PypiServer]:
    """A pypiserver with its fallback to PyPI disabled, serving ``tmp_path/pypiserver/packages``."""
    with PypiServer(tmp_path / "pypiserver") as server:
        _started(server)
        yield server


@pytest.fixture
def static_index(tmp_path: Path) -> Iterator[StaticIndex]:
    """``python -m http.server`` over a dumb-pypi tree (empty until the test publishes)."""
    with StaticIndex(tmp_path / "static") as server:
        _started(server)
        yield server


@pytest.fixture(scope="session")
def devpi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer | str]:
    """The session's devpi-server, or why it could not start here (tests using it are then skipped)."""
    server = DevpiServer(tmp_path_factory.mktemp("devpi"))
    try:
        server.start()
    except ServerUnavailable as error:
        server.stop()
        yield str(error)
        return
    try:
        _started(server)
        if server.init_seconds is not None:
            _START_TIMES["devpi-init"].append(server.init_seconds)
        yield server
    finally:
        server.stop()


@pytest.fixture
def devpi(devpi_server: DevpiServer | str) -> DevpiIndex:
    """An empty index on the session's devpi-server; skipped, with the reason, when devpi cannot start here.

    Under CI=true (``make test`` builds devpi's venv) a devpi that cannot start fails the test instead.
    """
    if isinstance(devpi_server, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"devpi-server unavailable under CI=true (run `make devpi`): {devpi_server}")
        pytest.skip(f"devpi-server unavailable: {devpi_server}")
    return devpi_server.new_index()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the servers' start times and the content types they answered with."""
    if not _START_TIMES and not _CONTENT_TYPES:
        return
    terminalreporter.section("conformance: real index servers")
    for name, times in sorted(_START_TIMES.items()):
        terminalreporter.write_line(
            f"{name}: started {len(times)} times in {min(times):.2f}-{max(times):.2f} s"
            f" (answered {', '.join(sorted(_CONTENT_TYPES.get(name, ()))) or 'not probed'})"
        )
