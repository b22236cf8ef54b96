"""Command line of the job: options (each also an environment variable), logging, exit codes, final summary."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import cast

import click

from thoth.package_releases import __version__, distribution_version
from thoth.package_releases import settings as defaults
from thoth.package_releases.config import ConfigError
from thoth.package_releases.database import KNOWLEDGE_GRAPH_VARIABLES
from thoth.package_releases.job import Job, RunFailed
from thoth.package_releases.redact import mask_text
from thoth.package_releases.report import RunReport
from thoth.package_releases.report_file import report_path_problem, write_report
from thoth.package_releases.settings import Settings

_LOGGER = logging.getLogger("thoth.package_releases")

ENV_PREFIX = "THOTH_PACKAGE_RELEASES"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TERMINATED = 143

# Environment variables the job reads besides its options' THOTH_PACKAGE_RELEASES_* ones.
OTHER_ENVIRONMENT_VARIABLES = frozenset(
    {
        *KNOWLEDGE_GRAPH_VARIABLES,
        "PROMETHEUS_PUSHGATEWAY_URL",
        "PROMETHEUS_PUSHGATEWAY_HOST",
        "PROMETHEUS_PUSHGATEWAY_PORT",
        "SENTRY_DSN",
        "THOTH_DEPLOYMENT_NAME",
        "JOB_COMPLETION_INDEX",
    }
)


def _env(option: str) -> str:
    return f"{ENV_PREFIX}_{option}"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(
        f"thoth-package-releases {__version__}\n"
        f"thoth-storages {distribution_version('thoth-storages') or 'not installed'}\n"
        f"thoth-common {distribution_version('thoth-common') or 'not installed'}"
    )
    ctx.exit(EXIT_OK)


# A fixed width: where the terminal's is unknown (a pipe, CI, `oc logs`) click would wrap at 80 columns and
# break the long THOTH_PACKAGE_RELEASES_* names in two, so that grepping the help would miss them.
@click.command(context_settings={"help_option_names": ["-h", "--help"], "terminal_width": 120})
@click.option(
    "-c",
    "--config",
    "--monitoring-config",
    "-m",
    "config",
    default=defaults.DEFAULT_CONFIG,
    show_default=True,
    envvar=_env("CONFIG"),
    show_envvar=True,
    metavar="PATH|URL",
    help="Configuration (indexes, feeds, monitored packages and their triggers): a file or an http(s) URL.",
)
@click.option(
    "--allow-insecure-config",
    is_flag=True,
    envvar=_env("ALLOW_INSECURE_CONFIG"),
    show_envvar=True,
    help="Read a configuration URL over plain http, or redirected to another origin (refused by default: whoever "
    "can change the configuration chooses where triggers send their secrets).",
)
@click.option(
    "--database-url",
    envvar=_env("DATABASE_URL"),
    show_envvar=True,
    metavar="URL",
    help="PostgreSQL URL of the knowledge graph. Default: built from KNOWLEDGE_GRAPH_HOST/PORT/USER/PASSWORD/"
    "DATABASE when KNOWLEDGE_GRAPH_HOST is set, otherwise an embedded PostgreSQL in --data-dir.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=defaults.DEFAULT_DATA_DIR,
    show_default=True,
    envvar=_env("DATA_DIR"),
    show_envvar=True,
    help="Folder of the embedded PostgreSQL (used only when no database is configured).",
)
@click.option(
    "--init-schema",
    is_flag=True,
    envvar=_env("INIT_SCHEMA"),
    show_envvar=True,
    help="Bring an external database to thoth-storages' schema head, creating it if missing (the embedded one "
    "always is).",
)
@click.option(
    "--only-if-package-seen",
    is_flag=True,
    envvar=_env("ONLY_IF_PACKAGE_SEEN"),
    show_envvar=True,
    help="Check only packages Thoth already knows (plus monitored ones) on every index, whatever the index says.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    envvar=_env("DRY_RUN"),
    show_envvar=True,
    help="Read everything, write nothing, send nothing; report what would be inserted.",
)
@click.option(
    "--report",
    "report_path",
    envvar=_env("REPORT"),
    show_envvar=True,
    metavar="PATH",
    help="Write the run's JSON report to PATH ('-' for standard output).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=defaults.DEFAULT_CONCURRENCY,
    show_default=True,
    envvar=_env("CONCURRENCY"),
    show_envvar=True,
    help="Concurrent HTTP requests per index.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 3600),
    default=defaults.DEFAULT_TIMEOUT,
    show_default=True,
    envvar=_env("TIMEOUT"),
    show_envvar=True,
    metavar="SECONDS",
    help="Timeout of one HTTP request (connecting, and reading the whole body).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 100_000),
    default=defaults.DEFAULT_CHUNK_SIZE,
    show_default=True,
    envvar=_env("CHUNK_SIZE"),
    show_envvar=True,
    help="Packages fetched and committed together in one transaction.",
)
@click.option(
    "--deadline",
    type=click.FloatRange(1, None),
    default=None,
    envvar=_env("DEADLINE"),
    show_envvar=True,
    metavar="SECONDS",
    help="Stop taking new work after this many seconds and finish cleanly with what was committed. Default: none.",
)
@click.option(
    "--shard-index",
    type=click.IntRange(0, None),
    default=defaults.DEFAULT_SHARD_INDEX,
    show_default=True,
    envvar=[_env("SHARD_INDEX"), "JOB_COMPLETION_INDEX"],
    show_envvar=True,
    help="This run's shard (0-based); Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX.",
)
@click.option(
    "--shard-count",
    type=click.IntRange(1, 1024),
    default=defaults.DEFAULT_SHARD_COUNT,
    show_default=True,
    envvar=_env("SHARD_COUNT"),
    show_envvar=True,
    help="Number of shards the package names are split into.",
)
@click.option(
    "--scan-strategy",
    type=click.Choice(defaults.SCAN_STRATEGIES),
    default=defaults.DEFAULT_SCAN_STRATEGY,
    show_default=True,
    envvar=_env("SCAN_STRATEGY"),
    show_envvar=True,
    help="How to find the changed projects of an index: 'listing' reads the index's listing and requests only "
    "the projects whose serial grew, 'projects' sends a conditional request per project, 'auto' uses the listing "
    "when it carries serials and many projects are to be checked.",
)
@click.option(
    "--feeds/--no-feeds",
    default=True,
    show_default=True,
    envvar=_env("FEEDS"),
    show_envvar=True,
    help="Read the configured RSS feeds (the fast path).",
)
@click.option(
    "--scan/--no-scan",
    default=True,
    show_default=True,
    envvar=_env("SCAN"),
    show_envvar=True,
    help="Check every known (or listed) package on every enabled index. `--feeds --no-scan` is a cheap run.",
)
@click.option(
    "--notification-attempts",
    type=click.IntRange(1, 1000),
    default=defaults.DEFAULT_NOTIFICATION_ATTEMPTS,
    show_default=True,
    envvar=_env("NOTIFICATION_ATTEMPTS"),
    show_envvar=True,
    help="Delivery attempts (over all runs) after which a queued trigger notification is marked dead.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=_env("METRICS_FILE"),
    show_envvar=True,
    help="Also write the run's Prometheus metrics to this file (text format). Pushing uses "
    "PROMETHEUS_PUSHGATEWAY_URL (or PROMETHEUS_PUSHGATEWAY_HOST/_PORT).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    envvar=_env("QUIET"),
    show_envvar=True,
    help="No progress bar or progress log lines.",
)
@click.option("-v", "--verbose", is_flag=True, envvar=_env("VERBOSE"), show_envvar=True, help="Log debug messages.")
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the versions of the job, thoth-storages and thoth-common, and exit.",
)
def main(
    config: str,
    allow_insecure_config: bool,
    database_url: str | None,
    data_dir: Path,
    init_schema: bool,
    only_if_package_seen: bool,
    dry_run: bool,
    report_path: str | None,
    concurrency: int,
    timeout: float,
    chunk_size: int,
    deadline: float | None,
    shard_index: int,
    shard_count: int,
    scan_strategy: str,
    feeds: bool,
    scan: bool,
    notification_attempts: int,
    metrics_file: Path | None,
    quiet: bool,
    verbose: bool,
) -> None:
    """Find new releases of Python packages on the indexes registered in Thoth's knowledge graph and record them.

    Exit codes: 0 the run completed (per-package failures are in the report), 1 the run could not complete,
    2 bad usage or configuration (nothing written), 143 stopped by SIGTERM.
    """
    if shard_index >= shard_count:
        raise click.BadParameter(f"must be lower than --shard-count ({shard_count})", param_hint="--shard-index")
    if not feeds and not scan and not init_schema:
        raise click.UsageError("--no-feeds and --no-scan together leave nothing to do")
    if not feeds and not scan and dry_run:
        raise click.UsageError("--init-schema --no-feeds --no-scan only migrates: --dry-run leaves nothing to do")
    if report_path and report_path != "-":
        problem = report_path_problem(Path(report_path))
        if problem:
            click.echo(f"error: --report {report_path}: {problem}", err=True)
            sys.exit(EXIT_USAGE)
    _init_logging(verbose)
    settings = Settings(
        config=config,
        allow_insecure_config=allow_insecure_config,
        database_url=database_url,
        data_dir=data_dir,
        init_schema=init_schema,
        only_if_package_seen=only_if_package_seen,
        dry_run=dry_run,
        concurrency=concurrency,
        timeout=timeout,
        chunk_size=chunk_size,
        deadline=deadline,
        shard_index=shard_index,
        shard_count=shard_count,
        scan_strategy=scan_strategy,
        feeds=feeds,
        scan=scan,
        notification_attempts=notification_attempts,
        metrics_file=metrics_file,
        quiet=quiet,
        environ=dict(os.environ),
    )
    job = Job(settings)
    exit_code = EXIT_OK
    try:
        job.run()
    except ConfigError as error:
        click.echo(f"error: bad configuration: {error}", err=True)
        sys.exit(EXIT_USAGE)
    except RunFailed as error:
        _LOGGER.error("Run failed: %s", error)
        click.echo(f"error: {mask_text(str(error))}", err=True)
        exit_code = EXIT_FAILED
    if job.stop.signal is not None:
        exit_code = EXIT_TERMINATED
    _emit(job.report, report_path, migrated=job.migration.render_text() if job.migration else None)
    if exit_code == EXIT_TERMINATED:
        # Requests still in flight in worker threads would hold the interpreter's exit for up to --timeout;
        # everything worth keeping is committed and reported, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code)
    sys.exit(exit_code)


def _init_logging(verbose: bool) -> None:
    _thoth_common_init_logging()()
    _LOGGER.setLevel(logging.DEBUG if verbose else logging.INFO)


def _thoth_common_init_logging() -> Callable[[], None]:
    """Return thoth-common's ``init_logging`` without running ``thoth/common/__init__.py``.

    That ``__init__`` imports the Kubernetes, OpenShift and Argo clients, which costs about a second
    and 75 MB of memory per run, for nothing this job uses. Its ``logging`` module needs none of them,
    so it is loaded under a stand-in parent package, which is removed again at once: a later
    ``import thoth.common`` (thoth-storages' migrations do one) gets the real package, reusing this
    very ``thoth.common.logging`` module.
    """
    if "thoth.common" in sys.modules:
        from thoth.common import init_logging

        return cast(Callable[[], None], init_logging)
    spec = importlib.util.find_spec("thoth.common")
    if spec is None or spec.submodule_search_locations is None:
        raise RuntimeError("thoth-common is not installed")
    stand_in = types.ModuleType("thoth.common")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["thoth.common"] = stand_in
    try:
        module = importlib.import_module("thoth.common.logging")
    finally:
        del sys.modules["thoth.common"]
    return cast(Callable[[], None], module.init_logging)


def _emit(report: RunReport, report_path: str | None, *, migrated: str | None = None) -> None:
    if report.finished_at is None:
        from datetime import UTC, datetime

        report.finished_at = datetime.now(UTC)
    click.echo(migrated or report.render_text(), err=True, nl=False)
    if report_path == "-":
        report.write_json(sys.stdout)
        sys.stdout.flush()
    elif report_path:
        path = Path(report_path)
        try:
            write_report(report, path)
        except OSError as error:
            click.echo(f"error: cannot write the report to {path}: {error.strerror}", err=True)
    report.close()
