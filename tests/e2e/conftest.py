"""End-to-end fixtures: run ``app.py`` as a process against local servers and a fresh database.

``app`` runs the job the way an operator does (``python app.py ...`` from the repository root) with an
environment stripped of anything that could point it elsewhere (KNOWLEDGE_GRAPH_*, THOTH_PACKAGE_RELEASES_*,
push gateway, Sentry, proxies), and returns its exit code, output and parsed ``--report``; ``app.start`` starts
it without waiting (:mod:`tests.support.app`). ``kg`` reads and seeds the test's database directly with SQL,
independently of the job's own code (:mod:`tests.support.graph`).
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.support.app import APP_TIMEOUT, AppOutput, Launcher, Running
from tests.support.graph import KnowledgeGraph as KnowledgeGraph  # the e2e tests import it from here
from tests.support.postgres import PostgresForTests
from tests.support.servers import IndexServer, WebhookReceiver

SUMMARY_PREFIX = "Package releases"


class AppResult(AppOutput):
    """What one run of ``app.py`` did, as the e2e tests read it."""

    @property
    def summary(self) -> str:
        """The first line of the text summary printed on stderr."""
        lines = [line for line in self.stderr.splitlines() if line.startswith(SUMMARY_PREFIX)]
        assert len(lines) == 1, f"expected one summary line\n{self}"
        return lines[0]

    @property
    def new_releases(self) -> list[tuple[str, str, str]]:
        """The report's new releases as (name, version, index URL), in report order."""
        return [(r["package_name"], r["package_version"], r["index_url"]) for r in self.report["new_releases"]]

    @property
    def errors(self) -> list[tuple[str | None, str | None, str]]:
        """The report's errors as (package name, index URL, message)."""
        return [(e["package_name"], e["index_url"], e["error"]) for e in self.report["errors"]]

    @property
    def notifications(self) -> dict[str, int]:
        """The report's notification counts: sent, failed (this run), pending, dead."""
        counts: dict[str, int] = self.report["notifications"]
        return counts


class App(Launcher[AppResult]):
    """Runs ``app.py`` in a subprocess: ``app("--config", path, database_url=url)``.

    ``database_url`` is passed as ``--database-url`` (None: not passed, so the embedded server in ``data_dir``,
    default ``<tmp_path>/data``, is used). ``report=True`` adds ``--report <file>`` and parses it; ``quiet=True``
    adds ``--quiet``. A run that prints a Python traceback fails the test.
    """

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, AppResult)
        self.data_dir = tmp_path / "data"

    def start(
        self,
        *args: str,
        database_url: str | None,
        env: Mapping[str, str] | None = None,
        report: bool = True,
        data_dir: Path | None = None,
        quiet: bool = False,
    ) -> Running[AppResult]:
        """Start the run without waiting for it; ``.wait()`` returns what it did."""
        argv = list(args)
        if database_url is not None:
            argv += ["--database-url", database_url]
        # Never let a run fall back on the repository's own .thoth-data folder.
        argv += ["--data-dir", str(data_dir or self.data_dir)]
        if quiet:
            argv.append("--quiet")
        return self.launch(argv, report=report, env=env)

    def __call__(self, *args: str, timeout: float = APP_TIMEOUT, **options: Any) -> AppResult:
        """Run to completion (``options``: those of :meth:`start`) and return what the run did."""
        result = self.start(*args, **options).wait(timeout)
        # Whatever happens, an operator gets messages, never a Python traceback.
        assert "Traceback (most recent call last)" not in result.stderr, f"the job crashed\n{result}"
        return result


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """Runs ``app.py`` (see :class:`App`); whatever a test started and left running is killed at its end."""
    runner = App(tmp_path)
    yield runner
    runner.cleanup()


# -- the knowledge graph, read and seeded with plain SQL ---------------------------------------------------


@pytest.fixture
def kg(database_url: str) -> KnowledgeGraph:
    """The test's fresh, migrated database."""
    return KnowledgeGraph(database_url)


@pytest.fixture
def empty_database(postgres: PostgresForTests) -> Iterator[str]:
    """URL of a fresh database with no schema at all (neither thoth-storages' nor the job's)."""
    url = postgres.create_empty_database()
    yield url
    postgres.drop_database(url)


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
    """Write a configuration file (dedented: it may be an indented literal) under tmp_path; return its path."""

    def write(text: str, name: str = "thoth.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def click_config(json_index: IndexServer, write_config: WriteConfig) -> str:
    """The path of a configuration monitoring click on json_index, which serves click 8.0."""
    json_index.add_project("click", ["8.0"])
    return write_config(index_config(json_index.base_url, packages=["click"]))


def index_config(
    url: str,
    *,
    only_if_package_seen: bool = True,
    packages: Sequence[str] | str = (),
    feeds: Sequence[str | tuple[str, str]] = (),
) -> str:
    """A current-format configuration naming one index, feeds announcing its releases and the monitored packages.

    ``packages`` is either the names of packages monitored without triggers or the text of the ``packages:``
    section (YAML, flush left). A feed is its URL, or (feed URL, index URL) for one of another index.
    """
    lines = [
        "indexes:",
        f"  - url: {url}",
        f"    only_if_package_seen: {'true' if only_if_package_seen else 'false'}",
    ]
    if feeds:
        lines.append("feeds:")
        for feed in feeds:
            feed_url, feed_index = (feed, url) if isinstance(feed, str) else feed
            lines.append(f"  - {{url: {feed_url}, index_url: {feed_index}}}")
    if isinstance(packages, str):
        lines += ["packages:", textwrap.indent(textwrap.dedent(packages), "  ").rstrip("\n")]
    else:
        lines.append("packages:" if packages else "packages: {}")
        lines += [f"  {name}: {{}}" for name in packages]
    return "\n".join(lines) + "\n"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """'1 package', '2 packages': how the summary counts things."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def summary_line(*, checked: int, indexes: int, new: int, feeds: int = 0, dry_run: bool = False) -> re.Pattern[str]:
    """The exact summary line expected on stderr (only the duration may vary)."""
    dry = re.escape(" (dry run)") if dry_run else ""
    verb = "would insert" if dry_run else "inserted"
    releases = "no new releases" if new == 0 else f"{new} new release{'s' if new != 1 else ''}"
    return re.compile(
        rf"Package releases{dry}: checked {counted(checked, 'package')} on {counted(indexes, 'index', 'indexes')}"
        rf" and {counted(feeds, 'feed')} in \d+\.\d s; {verb} {releases}\."
    )


RunApp = Callable[..., AppResult]
"""``run_app("--config", path, env=...)``: app.py run to completion on the test's database, quietly."""


@pytest.fixture
def run_app(app: App, database_url: str) -> RunApp:
    """Run app.py to completion on the test's database, quietly: ``run_app("--config", path, env=...)``."""
    return functools.partial(app, database_url=database_url, quiet=True, timeout=APP_TIMEOUT)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on 127.0.0.1 recording what it is sent."""
    with WebhookReceiver() as server:
        yield server
