"""One psycopg2 connection to the job's database, its transactions, and the URL helpers around it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import TypeAlias

import psycopg2
import psycopg2.extensions
import psycopg2.sql

from thoth.package_releases.redact import dsn_secrets, mask_dsn, mask_text, scrub

_LOGGER = logging.getLogger(__name__)

APPLICATION_NAME = "thoth-package-releases"

Cursor: TypeAlias = psycopg2.extensions.cursor

# SQLSTATEs of a connection that is gone: class 08 (connection exception), and the server shutting down,
# crashed, starting up, or ending an idle session. Other OperationalErrors (a row too large for an index, a
# full disk, a lock timeout) concern one query: running it again on a new connection would fail the same way.
_CONNECTION_EXCEPTION = "08"
_SERVER_GONE = frozenset({"57P01", "57P02", "57P03", "57P05"})


class DatabaseError(Exception):
    """The knowledge graph cannot be reached or used; the message names host and database, never a password."""


class ConnectionLost(DatabaseError):
    """The connection broke in the middle of the run; the transaction in flight was rolled back."""


def describe_url(url: str) -> str:
    """Return a human description of a database URL (host and database), safe to log."""
    # Parsed with the password masked: an unencoded "/" or "@" in it would make libpq read a piece of it as
    # the host, the port or the database name.
    try:
        parsed = psycopg2.extensions.parse_dsn(to_dsn(mask_dsn(url)))
    except psycopg2.Error:
        return f"database {mask_dsn(url)!r}"
    host = parsed.get("host", "localhost")
    port = parsed.get("port")
    database = parsed.get("dbname", parsed.get("user", "postgres"))
    where = f"{host}:{port}" if port else host
    return f"database {database!r} on {where}"


def to_dsn(url: str) -> str:
    """Turn an SQLAlchemy-style URL (``postgresql+psycopg2://``) into one psycopg2 accepts."""
    if url.startswith("postgresql+psycopg2://"):
        return "postgresql://" + url[len("postgresql+psycopg2://") :]
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def to_sqlalchemy_url(url: str) -> str:
    """Turn a PostgreSQL URL into the SQLAlchemy form alembic needs."""
    return "postgresql+psycopg2://" + to_dsn(url)[len("postgresql://") :]


def first_line(error: BaseException, url: str = "") -> str:
    """Return the first line of an error's message (its type when it has none), masked for logging.

    Given the database URL, its password (and every piece of it) is masked too.
    """
    text = str(error).strip()
    return scrub(mask_text(text.splitlines()[0] if text else type(error).__name__), dsn_secrets(url))


def create_database(url: str) -> None:
    """Create the database a URL names, connecting to the server's ``postgres`` database to do it."""
    try:
        parameters = psycopg2.extensions.parse_dsn(to_dsn(url))
    except psycopg2.Error as error:
        raise DatabaseError(f"cannot read the database URL {mask_dsn(url)!r}: {first_line(error, url)}") from None
    name = parameters.get("dbname") or parameters.get("user") or "postgres"
    maintenance = psycopg2.extensions.make_dsn(to_dsn(url), dbname="postgres")
    try:
        conn = psycopg2.connect(maintenance, connect_timeout=10, application_name=APPLICATION_NAME)
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cursor:
                cursor.execute(psycopg2.sql.SQL("CREATE DATABASE {}").format(psycopg2.sql.Identifier(name)))
        finally:
            conn.close()
    except psycopg2.Error as error:
        raise DatabaseError(f"cannot create {describe_url(url)}: {first_line(error, url)}") from None
    _LOGGER.info("Created %s", describe_url(url))


class Connection:
    """One connection to a PostgreSQL database, used in explicit transactions."""

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self.url = url
        self.description = describe_url(url)
        self._connect_timeout = connect_timeout
        self._conn: psycopg2.extensions.connection | None = None
        self._on_connect: list[Callable[[], None]] = []

    def on_connect(self, hook: Callable[[], None]) -> None:
        """Have ``hook`` run after every (re)connection, to restore what lived in the session (advisory locks)."""
        self._on_connect.append(hook)

    def connect(self) -> None:
        """(Re)open the connection and run the on-connect hooks; DatabaseError names host and database."""
        self.close()
        try:
            self._conn = psycopg2.connect(
                to_dsn(self.url), connect_timeout=self._connect_timeout, application_name=APPLICATION_NAME
            )
        except psycopg2.Error as error:
            raise DatabaseError(f"cannot connect to {self.description}: {first_line(error, self.url)}") from None
        self._conn.autocommit = False
        for hook in self._on_connect:
            hook()

    def close(self) -> None:
        """Close the connection (releasing the session's advisory locks)."""
        if self._conn is not None:
            with suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None

    @property
    def raw(self) -> psycopg2.extensions.connection:
        """The open psycopg2 connection; ConnectionLost when it is closed."""
        if self._conn is None or self._conn.closed:
            raise ConnectionLost(f"connection to {self.description} is closed")
        return self._conn

    def transaction(self) -> AbstractContextManager[Cursor]:
        """Run a block in one transaction: commit on success, roll back on any error."""
        return self._cursor(commit=True)

    def read_only(self) -> AbstractContextManager[Cursor]:
        """Run a block that only reads, rolling back afterwards so nothing is written even by mistake."""
        return self._cursor(commit=False)

    @contextmanager
    def _cursor(self, *, commit: bool) -> Iterator[Cursor]:
        conn = self.raw
        try:
            with conn.cursor() as cursor:
                yield cursor
            if commit:
                conn.commit()
            else:
                self._rollback_quietly()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            if not self._is_lost(error):  # a query the server refused (a key too large for an index, say)
                self._rollback_quietly()
                raise  # as it is: running it again on a new connection would fail the same way
            self._rollback_quietly()
            raise ConnectionLost(f"lost connection to {self.description}: {first_line(error, self.url)}") from None
        except BaseException:
            self._rollback_quietly()
            raise

    def _is_lost(self, error: psycopg2.Error) -> bool:
        """Tell whether an error means the connection is gone, not that the server refused one query."""
        if isinstance(error, psycopg2.InterfaceError) or self._conn is None or self._conn.closed:
            return True
        code = error.pgcode
        return code is None or code.startswith(_CONNECTION_EXCEPTION) or code in _SERVER_GONE

    def _rollback_quietly(self) -> None:
        if self._conn is not None and not self._conn.closed:
            with suppress(psycopg2.Error):
                self._conn.rollback()
