"""The job's one HTTP policy, for all its HTTP: index pages and listing, feeds, configuration, webhooks, push gateway.

It owns the ``requests`` sessions (user agent, connection pool, proxies, ~/.netrc and the CA bundle resolved once
from the run's environment: environment.py), the redirect policy (same origin only), the making of a request
under its bounds (a total time limit and a stop, through limits.py's watchdog; the size- and memory-limited
reading of a body, whole or piece by piece: bodies.py), and one debug line per request. failures.py holds the
retry rule for each kind of failure, the backoff and ``Retry-After`` delays, and the plain-words description of
a failed request; their names are re-exported here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from thoth.package_releases import __version__
from thoth.package_releases.redact import display_url, mask_url, one_line
from thoth.package_releases.sources.bodies import BodyError as BodyError
from thoth.package_releases.sources.bodies import BodyProblem as BodyProblem
from thoth.package_releases.sources.bodies import iter_body as iter_body
from thoth.package_releases.sources.bodies import read_body as read_body
from thoth.package_releases.sources.environment import ca_bundle as ca_bundle
from thoth.package_releases.sources.environment import environ_proxies as environ_proxies
from thoth.package_releases.sources.environment import netrc_auth as netrc_auth
from thoth.package_releases.sources.failures import MAX_DELAY as MAX_DELAY
from thoth.package_releases.sources.failures import RequestFailed as RequestFailed
from thoth.package_releases.sources.failures import backoff_delay as backoff_delay
from thoth.package_releases.sources.failures import describe_failure as describe_failure
from thoth.package_releases.sources.failures import retry_after as retry_after
from thoth.package_releases.sources.failures import retryable_status as retryable_status
from thoth.package_releases.sources.failures import transport_failure as transport_failure
from thoth.package_releases.sources.limits import Allowance, Watch, WatchedHTTPAdapter, watched

if TYPE_CHECKING:
    from requests.sessions import _Settings

USER_AGENT: Final = f"thoth-package-releases/{__version__} (+https://github.com/thoth-station/package-releases-job)"

# The most read of the body of an answer that is not a success (its status says enough).
_ERROR_BODY_BYTES: Final = 64 * 1024
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_LOGGER = logging.getLogger(__name__)


# -- sessions --------------------------------------------------------------------------------------------------


def origin(url: str) -> str:
    """Return a URL's origin as ``scheme://host:port`` (the port always written; no credentials)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


def may_follow(source: str, target: str) -> bool:
    """Return whether a redirect from ``source`` to ``target`` may be followed: only within the same origin.

    An origin is a scheme, a host and a port: a redirect to any other is never followed, so that nothing a
    request carries (credentials, secret headers) reaches a server it was not meant for.
    """
    return origin(source) == origin(target)


class _Session(requests.Session):
    """A session taking proxies and ~/.netrc credentials from a given environment, resolved once per origin.

    Its redirects go through :func:`may_follow`; a refused one is returned as the response.
    """

    def __init__(self, environ: Mapping[str, str], *, any_origin: bool = False) -> None:
        super().__init__()
        self.any_origin = any_origin
        # With trust_env, requests re-reads proxies, ~/.netrc and the CA-bundle variables on every request,
        # scanning the whole environment twice (a third of the CPU of a 304): resolve them once per origin.
        self.trust_env = False
        self._environ = dict(environ)
        self._by_origin: dict[str, tuple[dict[str, str], tuple[str, str] | None]] = {}
        self._origin_lock = threading.Lock()

    def _resolved(self, url: str) -> tuple[dict[str, str], tuple[str, str] | None]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        with self._origin_lock:
            found = self._by_origin.get(origin)
            if found is None:
                found = (environ_proxies(url, self._environ), netrc_auth(url, self._environ))
                self._by_origin[origin] = found
        return found

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """Prepare a request, adding ~/.netrc credentials when neither the request nor its URL has any."""
        if request.auth is None and self.auth is None and request.url and urlsplit(str(request.url)).username is None:
            request.auth = self._resolved(str(request.url))[1]
        return super().prepare_request(request)

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> _Settings:
        """Return the request's settings, with the proxies the environment gives for its URL."""
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if url and not proxies:
            settings["proxies"] = {**self._resolved(url.decode() if isinstance(url, bytes) else url)[0]}
        return settings

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        """Return where a response redirects to, or None when it does not or the policy refuses to follow."""
        target = super().get_redirect_target(resp)
        if target is None or resp.request.url is None:
            return target
        absolute = requests.compat.urljoin(resp.request.url, target)
        return target if self.any_origin or may_follow(resp.request.url, absolute) else None


def new_session(
    environ: Mapping[str, str],
    *,
    verify: bool = True,
    pool_size: int = 10,
    headers: Mapping[str, str] | None = None,
    any_origin: bool = False,
) -> requests.Session:
    """Return a session with the job's user agent, and proxies, ~/.netrc and CA bundle taken from ``environ``.

    Credentials in a request's URL take precedence over ~/.netrc; ``verify`` false turns TLS verification off.
    Redirects are followed within the request's origin only, unless ``any_origin`` (the operator allowed it;
    requests drops the Authorization header at another host).
    """
    session = _Session(environ, any_origin=any_origin)
    session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
    session.verify = ca_bundle(environ) or True if verify else False
    adapter = WatchedHTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


# -- bodies ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A response to a GET, with its whole body (empty when the body of an error status could not be read)."""

    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    body: bytes


def get(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    body_timeout: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    allowance: Allowance | None = None,
) -> Reply:
    """Return the answer to one GET of ``url``, its body read within ``max_bytes`` and ``body_timeout`` seconds.

    ``timeout`` bounds connecting and each read, and is the time limit of everything up to the end of the
    response's headers (a server trickling them cannot hold the request longer); ``body_timeout`` (default
    ``timeout``) bounds the whole request, body included. The request is cut short as soon as ``should_stop()``
    turns true. Decompressed body bytes are taken from ``allowance`` (a memory budget shared with other
    requests), if given. Raises RequestFailed when no answer came (cut short, refused, or redirected to another
    origin), and BodyError when a 2xx answer's body could not be read whole (declared or found larger than
    ``max_bytes``, past the budget, too slow, cut off).
    """
    with stream(
        session,
        url,
        timeout=timeout,
        max_bytes=max_bytes,
        headers=headers,
        body_timeout=body_timeout,
        should_stop=should_stop,
        allowance=allowance,
        hold=True,
    ) as answer:
        body = b"".join(answer.pieces)
    return Reply(answer.status, answer.reason, answer.headers, body)


@dataclass(frozen=True)
class Streamed:
    """A response to a GET whose body is read piece by piece, decoded, as ``pieces`` is iterated.

    For a 2xx, ``pieces`` yields the whole body; for any other status, at most the first 64 KiB of it (or
    nothing when it could not be read: the status says enough).
    """

    status: int
    reason: str
    headers: CaseInsensitiveDict[str]
    pieces: Iterator[bytes]


@contextmanager
def stream(
    session: requests.Session,
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    body_timeout: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    allowance: Allowance | None = None,
    hold: bool = False,
) -> Iterator[Streamed]:
    """Make one GET of ``url`` and give its answer, whose body is read within the block as it is consumed.

    The bounds are those of :func:`get`: ``timeout`` for connecting, each read and the headers,
    ``body_timeout`` for the whole request, ``max_bytes`` decompressed bytes, a stop as soon as
    ``should_stop()`` turns true. Decompressed bytes are taken from ``allowance``, if given: with ``hold`` for
    the whole block, else one piece at a time (the consumer parses each before it asks for the next). Raises
    RequestFailed when no answer came, and (while ``pieces`` is iterated) RequestFailed when the run stops and
    BodyError when a 2xx answer's body could not be read whole. The connection is closed when the block ends.
    """
    total = timeout if body_timeout is None else max(body_timeout, timeout)
    started = time.monotonic()
    if should_stop is not None and should_stop():
        raise _stopped()
    with watched(timeout, should_stop) as watch:
        response = _open(session, "GET", url, watch, timeout=timeout, headers=headers)
        with response:
            watch.extend(total)
            pieces = _pieces(response, url, watch, started, max_bytes, total, allowance, hold=hold)
            try:
                yield Streamed(response.status_code, response.reason or "", response.headers, pieces)
            finally:
                pieces.close()


def _pieces(
    response: requests.Response,
    url: str,
    watch: Watch,
    started: float,
    max_bytes: int,
    total: float,
    allowance: Allowance | None,
    *,
    hold: bool,
) -> Generator[bytes, None, None]:
    """Yield the decoded body of a response under watch (see :func:`stream`), and log the request at its end."""
    success = 200 <= response.status_code < 300
    declared = response.headers.get("Content-Length", "").strip()
    size = 0
    error_body = b""
    try:
        if success and declared.isdigit() and int(declared) > max_bytes:
            raise BodyError(BodyProblem.TOO_LARGE, f"{declared} declared")
        if success:
            for piece in iter_body(response, max_bytes=max_bytes, timeout=total, allowance=allowance, hold=hold):
                size += len(piece)
                yield piece
        else:  # only its status is used: read a little, so that the connection may serve again
            error_body = read_body(response, max_bytes=min(max_bytes, _ERROR_BODY_BYTES), timeout=total)
    except BodyError as error:
        _log(response, "GET", url, started, None)
        if watch.fired == "stopped":
            raise _stopped() from None
        if watch.fired == "timeout" and error.problem is not BodyProblem.TOO_LARGE:
            raise BodyError(BodyProblem.TOO_SLOW) from None
        if success:
            raise
        return  # an error's status says enough
    if watch.fired is not None:  # a body cut by the watchdog may look whole (no length given)
        _log(response, "GET", url, started, None)
        if watch.fired == "stopped":
            raise _stopped()
        if success:
            if allowance is not None and hold:
                allowance.give_back(size)
            raise BodyError(BodyProblem.TOO_SLOW)
        return
    _log(response, "GET", url, started, size if success else len(error_body))
    if error_body:
        yield error_body


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    auth: tuple[str, str] | None = None,
    verify: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
    shown_url: str | None = None,
) -> Reply:
    """Make one request whose answer's body is not needed (a webhook, a push); return its status and headers.

    ``timeout`` is the time limit of the whole request; it is cut short as soon as ``should_stop()`` turns
    true. Redirects are not followed (a redirected POST would become a GET): a 3xx is returned as it is.
    ``shown_url`` is how the debug log names the URL (default: with its secrets masked). Raises RequestFailed
    when no answer came.
    """
    started = time.monotonic()
    with watched(timeout, should_stop) as watch:
        extra: dict[str, Any] = {"data": data, "auth": auth, "allow_redirects": False}
        if verify is not None:
            extra["verify"] = verify
        response = _open(session, method, url, watch, timeout=timeout, headers=headers, **extra)
        with response:
            _log(response, method, shown_url or url, started, None)
            return Reply(response.status_code, response.reason or "", response.headers, b"")


def _open(
    session: requests.Session,
    method: str,
    url: str,
    watch: Watch,
    *,
    timeout: float,
    headers: Mapping[str, str] | None,
    **extra: Any,
) -> requests.Response:
    """Return the response to a request (headers read, body not), under ``watch``; raise RequestFailed."""
    try:
        response = session.request(method, url, headers=headers, timeout=timeout, stream=True, **extra)
    except requests.RequestException as error:
        if watch.fired == "stopped":
            raise _stopped() from None
        if watch.fired == "timeout":
            raise RequestFailed(f"timed out after {watch.limit:g} s", retryable=True) from None
        raise transport_failure(error, timeout=timeout) from None
    if watch.fired is not None:
        response.close()
        raise (
            _stopped()
            if watch.fired == "stopped"
            else RequestFailed(f"timed out after {watch.limit:g} s", retryable=True)
        )
    follows = extra.get("allow_redirects", True) and not getattr(session, "any_origin", False)
    if follows and response.is_redirect and response.request.url:
        target = requests.compat.urljoin(response.request.url, response.headers.get("Location", ""))
        if not may_follow(response.request.url, target):
            response.close()
            _LOGGER.debug(
                "%s %s -> %d, redirect to %s refused", method, mask_url(url), response.status_code, origin(target)
            )
            raise RequestFailed(one_line(f"redirect to another origin {origin(target)} refused"), retryable=False)
    return response


def _stopped() -> RequestFailed:
    return RequestFailed("not completed: the run is stopping", retryable=False)


def _log(response: requests.Response, method: str, url: str, started: float, size: int | None) -> None:
    """Log one debug line about a request: method, masked URL, status, content type, bytes, time."""
    if not _LOGGER.isEnabledFor(logging.DEBUG):
        return
    content_type = one_line(response.headers.get("Content-Type", "-"), limit=80)
    received = f"{size} bytes" if size is not None else "body not read"
    _LOGGER.debug(
        "%s %s -> %d, %s, %s, %.3f s",
        method,
        one_line(display_url(url), limit=200),
        response.status_code,
        content_type,
        received,
        time.monotonic() - started,
    )
