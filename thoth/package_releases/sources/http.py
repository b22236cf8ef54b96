"""The job's one HTTP policy, for all its HTTP: index pages and listing, feeds, configuration, webhooks, push gateway.

It owns the ``requests`` sessions (user agent, connection pool, proxies, ~/.netrc and the CA bundle resolved once
from the run's environment), the retry rule for each kind of failure, the backoff and ``Retry-After`` delays,
the size- and time-limited reading of a body, the redirect policy, and the plain-words description of a failed
request.
"""

from __future__ import annotations

import enum
import ipaddress
import netrc
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from thoth.package_releases import __version__
from thoth.package_releases.redact import describe

if TYPE_CHECKING:
    from requests.sessions import _Settings

USER_AGENT: Final = f"thoth-package-releases/{__version__} (+https://github.com/thoth-station/package-releases-job)"
# Longest wait between two attempts, whatever a server's Retry-After asks for.
MAX_DELAY: Final = 60.0

_CHUNK_SIZE: Final = 64 * 1024


# -- sessions --------------------------------------------------------------------------------------------------


def may_follow(source: str, target: str) -> bool:
    """Return whether a redirect from ``source`` to ``target`` may be followed (the one redirect policy)."""
    return True


class _Session(requests.Session):
    """A session taking proxies and ~/.netrc credentials from a given environment, resolved once per origin.

    Its redirects go through :func:`may_follow`; a refused one is returned as the response.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__()
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
        return target if may_follow(resp.request.url, absolute) else None


def new_session(
    environ: Mapping[str, str],
    *,
    verify: bool = True,
    pool_size: int = 10,
    headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """Return a session with the job's user agent, and proxies, ~/.netrc and CA bundle taken from ``environ``.

    Credentials in a request's URL take precedence over ~/.netrc; ``verify`` false turns TLS verification off.
    """
    session = _Session(environ)
    session.headers.update({"User-Agent": USER_AGENT, **(headers or {})})
    session.verify = ca_bundle(environ) or True if verify else False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """Return the CA bundle the environment names (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE), if any."""
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or None


def environ_proxies(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the proxies (by scheme) the environment's ``*_proxy`` variables give for ``url``; none if bypassed."""
    proxies: dict[str, str] = {}
    # Lower-case names win, as in urllib; HTTP_PROXY is ignored in a CGI request (httpoxy).
    for name in sorted(environ, key=lambda key: key.islower()):
        value = environ[name]
        if name.lower().endswith("_proxy") and value and name.lower() != "no_proxy":
            if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
                continue
            proxies[name.lower()[: -len("_proxy")]] = value
    if not proxies or _bypasses_proxy(url, environ.get("no_proxy") or environ.get("NO_PROXY") or ""):
        return {}
    return proxies


def _bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Return whether the host of ``url`` is in a NO_PROXY list (host names, domains, IP addresses, CIDR ranges)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for entry in (item.strip().lower() for item in no_proxy.replace(" ", "").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and str(parts.port) != port:
            continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
            continue
        except ValueError:
            pass
        domain = name.lstrip(".")
        if host == domain or host.endswith(f".{domain}"):
            return True
    return False


def netrc_auth(url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return the (login, password) for ``url``'s host from $NETRC or else ~/.netrc (or ~/_netrc); None if none."""
    home = environ.get("HOME") or str(Path.home())
    named = environ.get("NETRC")
    candidates = [Path(named).expanduser()] if named else [Path(home, ".netrc"), Path(home, "_netrc")]
    host = urlsplit(url).hostname
    for path in candidates:
        if not host or not path.exists():
            continue
        try:
            found = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError):
            return None  # like requests: a broken ~/.netrc means no credentials, not a failed run
        if found is None:
            return None
        login, account, password = found
        return (login or account or "", password or "")
    return None


# -- failures and retries --------------------------------------------------------------------------------------


class RequestFailed(Exception):
    """A request that gave no usable answer: ``str()`` says why in plain words (one line, no URL).

    ``retryable`` tells whether trying again may help; ``retry_after`` is the delay the server asked for.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


def describe_failure(error: BaseException) -> str:
    """Return a failed request's exception as 'Type: what went wrong', without the URL requests puts in it.

    requests' connection errors name the request's path and query ("Max retries exceeded with url: ..."),
    and a URL may carry a secret; urllib3's underlying reason says what went wrong without it.
    """
    cause = error.args[0] if isinstance(error, requests.RequestException) and error.args else None
    reason = getattr(cause, "reason", None)
    if not isinstance(reason, BaseException):
        return describe(error)
    return f"{type(error).__name__}: {reason}"


def transport_failure(error: requests.RequestException) -> RequestFailed:
    """Return the failure a request exception stands for, with the rule of its kind.

    Connection failures and timeouts are retried; TLS failures (certificates, protocols) are not: they do not
    heal within a run. Any other request error (an invalid URL, too many redirects) is final too.
    """
    retryable = isinstance(error, requests.ConnectionError | requests.Timeout) and not isinstance(
        error, requests.exceptions.SSLError
    )
    return RequestFailed(describe_failure(error), retryable=retryable)


def retryable_status(status: int) -> bool:
    """Return whether an HTTP status is worth another try (timeouts, rate limits, server errors)."""
    return status in (408, 429) or status >= 500


def retry_after(value: str | None) -> float | None:
    """Return the delay a Retry-After value asks for (seconds or an HTTP date, read as GMT), at most MAX_DELAY.

    None when absent or invalid.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_DELAY)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": HTTP dates are always GMT
        moment = moment.replace(tzinfo=UTC)
    return min(max(moment.timestamp() - time.time(), 0.0), MAX_DELAY)


def backoff_delay(backoff: float, attempt: int, retry_after_delay: float | None = None) -> float:
    """Return how long to wait after failed attempt number ``attempt`` (0 for the first).

    Retry-After when the server gave one; else ``backoff`` doubling with each attempt, with up to 50% jitter,
    at most MAX_DELAY.
    """
    if retry_after_delay is not None:
        return retry_after_delay
    base = backoff * 2.0**attempt
    return min(base * random.uniform(1.0, 1.5), MAX_DELAY)  # noqa: S311 (jitter, not cryptography)


# -- bodies ----------------------------------------------------------------------------------------------------


class BodyProblem(enum.Enum):
    """Why a body could not be read."""

    TOO_LARGE = "too large"
    TOO_SLOW = "too slow"
    READ_TIMEOUT = "read timeout"
    TRUNCATED = "truncated body"


class BodyError(Exception):
    """A body that could not be read whole.

    ``detail`` describes the exception behind a read timeout or a truncation, or the size a too large body declared.
    """

    def __init__(self, problem: BodyProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


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
) -> Reply:
    """Return the answer to one GET of ``url``, its body read within ``max_bytes`` and ``body_timeout`` seconds.

    ``timeout`` bounds connecting and each read, and is the default ``body_timeout``. Raises RequestFailed when
    no answer came, and BodyError when a 2xx answer's body could not be read whole (declared or found larger
    than ``max_bytes``, too slow, cut off).
    """
    try:
        response = session.get(url, headers=headers, timeout=timeout, stream=True)
    except requests.RequestException as error:
        raise transport_failure(error) from None
    with response:
        success = 200 <= response.status_code < 300
        declared = response.headers.get("Content-Length", "").strip()
        if success and declared.isdigit() and int(declared) > max_bytes:
            raise BodyError(BodyProblem.TOO_LARGE, f"{declared} declared")
        try:
            body = read_body(response, max_bytes=max_bytes, timeout=timeout if body_timeout is None else body_timeout)
        except BodyError:
            if success:
                raise
            body = b""  # an error's status says enough
        return Reply(response.status_code, response.reason or "", response.headers, body)


def read_body(
    response: requests.Response,
    *,
    max_bytes: int,
    timeout: float,
    received: Callable[[int], None] | None = None,
) -> bytes:
    """Return a streamed response's decoded body, raising BodyError past ``max_bytes`` or ``timeout`` seconds.

    ``received`` is told how many bytes came over the wire, however the read ended.
    """
    raw: Any = response.raw
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            # read1 returns what one socket read brings, so a server trickling bytes cannot keep a single call
            # busy past the deadline; a silent one is cut by the read timeout.
            try:
                chunk = raw.read1(_CHUNK_SIZE, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError as error:
                raise BodyError(BodyProblem.READ_TIMEOUT, describe(error)) from None
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise BodyError(BodyProblem.TRUNCATED, describe(error)) from None
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > max_bytes:
                raise BodyError(BodyProblem.TOO_LARGE)
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise BodyError(BodyProblem.TOO_SLOW)
    finally:
        if received is not None:
            received(raw.tell())
