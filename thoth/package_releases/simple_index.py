"""One package index's simple API: project listing and project versions (PEP 691 JSON first, PEP 503 HTML).

Pages are fetched with conditional requests (ETag / Last-Modified), retried on transient failures,
checked against the index serial recorded by the previous run (stale CDN copies), and parsed into
PEP 440-normalized versions. Every failure is reported per project as a value, never raised.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import queue
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from packaging.version import Version
from pypi_simple import UnparsableFilenameError, UnsupportedRepoVersionError, parse_filename, parse_links_stream
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from thoth.package_releases import __version__
from thoth.package_releases.normalize import normalize_name, normalize_version
from thoth.package_releases.redact import describe, mask_url, one_line
from thoth.package_releases.values import PageValidators

USER_AGENT: Final = f"thoth-package-releases/{__version__} (+https://github.com/thoth-station/package-releases-job)"
ACCEPT: Final = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"

_JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
_HTML_TYPES: Final = frozenset({"application/vnd.pypi.simple.v1+html", "text/html"})
_SUPPORTED_API_MAJOR: Final = 1
_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_GONE_STATUSES: Final = frozenset({404, 410})
_MAX_DELAY: Final = 60.0
_CHUNK_SIZE: Final = 64 * 1024
# The project listing of a large index (PyPI's is ~30 MB) may be this many times larger and slower than a page.
LISTING_LIMIT_FACTOR: Final = 10
_CONTROL_CHARACTERS: Final = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HTML_MARKERS: Final = re.compile(rb"<\s*(?:a\s|!doctype\s+html|html|body|head)", re.IGNORECASE)
# How often fetch_many looks at should_stop while it waits for results.
_STOP_POLL_SECONDS: Final = 0.25
_NO_CACHE: Final = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
# PyPI ends its HTML pages with this comment; it is the only place an HTML page carries the serial.
_HTML_SERIAL: Final = re.compile(rb"<!--\s*SERIAL\s+(\d+)\s*-->")


class FetchStatus(enum.Enum):
    """Outcome of fetching one page."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    NOT_FOUND = "not_found"
    STALE = "stale"
    FAILED = "failed"


@dataclass(frozen=True)
class ProjectVersions:
    """The versions of one project on one index, or why they could not be had.

    ``validators`` are the new ones for OK, the ones passed in (serial possibly raised) for NOT_MODIFIED,
    the ones passed in, unchanged, for STALE and FAILED, and empty for NOT_FOUND.
    """

    project: str
    status: FetchStatus
    versions: tuple[str, ...] = ()
    invalid_versions: tuple[str, ...] = ()
    validators: PageValidators = PageValidators()
    error: str | None = None


@dataclass(frozen=True)
class ProjectListing:
    """The projects an index lists (status OK, NOT_MODIFIED or FAILED)."""

    status: FetchStatus
    projects: tuple[str, ...] = ()
    serials: Mapping[str, int] | None = None
    validators: PageValidators = PageValidators()
    error: str | None = None


@dataclass(frozen=True)
class RequestStats:
    """Counters of a client's HTTP traffic since it was constructed."""

    by_status: Mapping[str, int]
    requests: int
    bytes_received: int
    retries: int


class PageError(ValueError):
    """A simple-API page whose content cannot be understood; the message is one line."""


class _FetchFailedError(Exception):
    """A request that ended without a usable response; ``reason`` is one masked line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _TransientError(Exception):
    """An attempt that failed in a way worth retrying."""


class _FatalError(Exception):
    """An attempt that failed in a way retrying will not fix."""


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes


# Version strings repeat across the projects of one run ("1.0.0", "0.1.0", ...): parse each once.
_normalized_version = functools.lru_cache(maxsize=16384)(normalize_version)
_version_key = functools.lru_cache(maxsize=16384)(Version)


def _media_type(content_type: str) -> tuple[str, str | None]:
    """Return the lower-cased media type and the charset parameter of a Content-Type value."""
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _as_serial(value: object) -> int | None:
    """Return an index serial given as int or decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _classify_versions(raw_versions: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the unique normalized valid versions (sorted) and the unique raw invalid ones (in page order)."""
    valid: set[str] = set()
    invalid: dict[str, None] = {}
    for raw in raw_versions:
        normalized = _normalized_version(raw)
        if normalized is None:
            invalid[raw] = None
        else:
            valid.add(normalized)
    return tuple(sorted(valid, key=_version_key)), tuple(invalid)


def _version_from_filename(project: str, filename: str) -> str | None:
    """Return the version in a distribution file name of the project, or None when it has none."""
    try:
        name, version, _ = parse_filename(filename, project)
    except UnparsableFilenameError:
        return None
    # Like pip, a file named for another project is no release of this one.
    if normalize_name(name) != project:
        return None
    return version


def _load_json(body: bytes) -> dict[str, Any]:
    """Return a PEP 691 document as a dict, checking its shape and API version."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PageError(one_line(f"malformed JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise PageError("malformed JSON: the document is not an object")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise PageError('malformed JSON: no "meta" object')
    api_version = meta.get("api-version")
    if not isinstance(api_version, str):
        raise PageError('malformed JSON: no "meta.api-version"')
    try:
        major = Version(api_version).release[0]
    except ValueError:
        raise PageError(one_line(f"malformed JSON: invalid api-version {api_version!r}")) from None
    if major > _SUPPORTED_API_MAJOR:
        raise PageError(one_line(f"unsupported repository version {api_version}"))
    return data


def _parse_html_links(body: bytes, charset: str | None) -> list[str]:
    """Return the texts of the anchors of a PEP 503 page; raise PageError for what is no HTML page at all.

    An HTML parser accepts nearly anything, so a garbled body would pass for a project with no files and
    its releases would be lost silently: control characters (which HTML forbids) and a body with neither
    an anchor nor any HTML structure are refused instead.
    """
    if _CONTROL_CHARACTERS.search(body):
        raise PageError("malformed HTML: control characters in the page")
    if not _HTML_MARKERS.search(body[:65536]):
        raise PageError("malformed HTML: no anchors and no HTML structure")
    try:
        # pypi-simple's streaming parser is about twice as fast as its BeautifulSoup one, and a simple
        # page is nothing but anchors; hrefs are not resolved because only the texts matter here.
        return [link.text for link in parse_links_stream([body], http_charset=charset)]
    except (UnsupportedRepoVersionError, LookupError, ValueError) as exc:
        raise PageError(one_line(f"malformed HTML: {exc}")) from None


def _check_content_type(content_type: str) -> tuple[str, str | None]:
    """Return media type and charset of a simple-API page, or raise PageError for any other type."""
    media_type, charset = _media_type(content_type)
    if media_type != _JSON_TYPE and media_type not in _HTML_TYPES:
        raise PageError(one_line(f"unexpected content type {content_type!r}"))
    return media_type, charset


def parse_project_page(
    project: str, body: bytes, content_type: str, page_url: str
) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    """Return the valid normalized versions, the invalid raw versions and the serial (or None) of a project page.

    ``content_type`` is the response's Content-Type (PEP 691 JSON, PEP 503 HTML or text/html). Versions
    come from the PEP 700 ``versions`` list when the page has one, else from the distribution file names
    (files of other projects and unparsable names are ignored). ``page_url`` is accepted for symmetry
    with the client; file URLs are never resolved. Raises PageError on content that is not such a page.
    """
    project = normalize_name(project)
    media_type, charset = _check_content_type(content_type)
    if media_type == _JSON_TYPE:
        data = _load_json(body)
        raw_versions = data.get("versions")
        if raw_versions is None:
            files = data.get("files")
            if not isinstance(files, list):
                raise PageError('malformed JSON: "files" is not a list')
            raw_versions = []
            for entry in files:
                filename = entry.get("filename") if isinstance(entry, dict) else None
                if not isinstance(filename, str):
                    raise PageError('malformed JSON: a file without a "filename"')
                version = _version_from_filename(project, filename)
                if version is not None:
                    raw_versions.append(version)
        elif not isinstance(raw_versions, list) or not all(isinstance(version, str) for version in raw_versions):
            raise PageError('malformed JSON: "versions" is not a list of strings')
        valid, invalid = _classify_versions(raw_versions)
        return valid, invalid, _as_serial(data["meta"].get("_last-serial"))
    texts = _parse_html_links(body, charset)
    found = (_version_from_filename(project, text) for text in texts)
    valid, invalid = _classify_versions(version for version in found if version is not None)
    match = _HTML_SERIAL.search(body)
    return valid, invalid, int(match.group(1)) if match else None


def _parse_listing(body: bytes, content_type: str) -> tuple[tuple[str, ...], dict[str, int] | None, int | None]:
    """Return the normalized project names, their serials (or None) and the page serial (or None)."""
    media_type, charset = _check_content_type(content_type)
    if media_type != _JSON_TYPE:
        names = dict.fromkeys(normalize_name(text) for text in _parse_html_links(body, charset) if text)
        match = _HTML_SERIAL.search(body)
        return tuple(names), None, int(match.group(1)) if match else None
    data = _load_json(body)
    entries = data.get("projects")
    if not isinstance(entries, list):
        raise PageError('malformed JSON: "projects" is not a list')
    projects: dict[str, None] = {}
    serials: dict[str, int] | None = {}
    for entry in entries:
        raw_name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(raw_name, str):
            raise PageError('malformed JSON: a project without a "name"')
        name = normalize_name(raw_name)
        projects[name] = None
        if serials is not None:
            serial = _as_serial(entry.get("_last-serial"))
            if serial is None:
                serials = None
            else:
                serials[name] = max(serial, serials.get(name, serial))
    return tuple(projects), serials, _as_serial(data["meta"].get("_last-serial"))


def parse_listing_page(body: bytes, content_type: str, page_url: str) -> tuple[tuple[str, ...], dict[str, int] | None]:
    """Return the normalized project names of an index's root page and, from JSON, their serials.

    Serials are returned only when every project entry carries a ``_last-serial``; else None. ``page_url``
    is accepted for symmetry with the client. Raises PageError on content that is not such a page.
    """
    projects, serials, _ = _parse_listing(body, content_type)
    return projects, serials


def _conditional_headers(validators: PageValidators) -> dict[str, str]:
    """Return the request headers that make a request conditional on the validators."""
    headers: dict[str, str] = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _not_modified_validators(old: PageValidators, headers: Mapping[str, str]) -> PageValidators:
    """Return the validators to keep after a 304: the old ones, with a newer serial if the 304 has one."""
    serial = _as_serial(headers.get("X-PyPI-Last-Serial"))
    if serial is None or (old.serial is not None and serial <= old.serial):
        return old
    return PageValidators(etag=old.etag, last_modified=old.last_modified, serial=serial)


def _retry_after(value: str | None) -> float | None:
    """Return the delay a Retry-After value (seconds or HTTP date) asks for, capped; None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), _MAX_DELAY)


def _is_stale(serial: int | None, recorded: int | None) -> bool:
    """Return whether a page's serial is older than the one recorded."""
    return serial is not None and recorded is not None and serial < recorded


class SimpleIndexClient:
    """Client of one index's simple API, safe to share between threads."""

    def __init__(
        self,
        index_url: str,
        *,
        verify_ssl: bool = True,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_body_bytes: int = 50 * 1024 * 1024,
        concurrency: int = 16,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Prepare a client for the index at ``index_url`` (no request is made yet).

        ``timeout`` bounds connecting, each read, and reading a whole body; ``retries`` is the number of
        extra attempts after a transient failure; ``sleep`` is how the client waits between attempts.
        Credentials come from the URL's user-info or else from ~/.netrc (or $NETRC); proxies and the CA
        bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) from the environment, read once, as requests reads them.
        """
        base = index_url.strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError(one_line(f"index URL is not http(s): {mask_url(index_url)}"))
        if timeout <= 0 or retries < 0 or backoff < 0 or max_body_bytes <= 0 or concurrency < 1:
            raise ValueError("timeout, max_body_bytes and concurrency must be positive, retries and backoff >= 0")
        self.index_url = base
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_body_bytes = max_body_bytes
        self._concurrency = concurrency
        self._cancelled = threading.Event()
        # Backoff waits end early when the client is cancelled, so that a stopping run is not held up.
        self._sleep = sleep if sleep is not None else self._cancelled.wait
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": ACCEPT})
        # With trust_env, requests re-reads proxies, ~/.netrc and the CA-bundle variables on every request,
        # scanning the whole environment twice (a third of the CPU of a 304): resolve them once, here.
        self._session.trust_env = False
        self._session.proxies.update(requests.utils.get_environ_proxies(base))
        if urlsplit(base).username is None:  # credentials in the URL take precedence over ~/.netrc
            netrc_auth = requests.utils.get_netrc_auth(base)
            if netrc_auth is not None:
                self._session.auth = netrc_auth
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._verify: bool | str = (ca_bundle or True) if verify_ssl else False
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=concurrency, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._requests = 0
        self._bytes_received = 0
        self._retry_count = 0
        self._executor: ThreadPoolExecutor | None = None

    def __enter__(self) -> Self:
        """Return the client itself."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Close the client."""
        self.close()

    def cancel(self) -> None:
        """Make requests in flight give up at their next retry, and backoff waits end now (the run is stopping)."""
        self._cancelled.set()

    def close(self) -> None:
        """Stop the worker threads and close the connections."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=not self._cancelled.is_set(), cancel_futures=True)
        self._session.close()

    def stats(self) -> RequestStats:
        """Return the request counters accumulated since construction."""
        with self._lock:
            return RequestStats(
                by_status=dict(self._by_status),
                requests=self._requests,
                bytes_received=self._bytes_received,
                retries=self._retry_count,
            )

    def project_versions(self, project: str, validators: PageValidators | None = None) -> ProjectVersions:
        """Return a project's versions, conditional on the validators of the previous fetch; never raises."""
        name = normalize_name(project)
        old = validators or PageValidators()
        url = f"{self.index_url}/{name}/"
        try:
            return self._project_versions(name, url, old)
        except _FetchFailedError as exc:
            return ProjectVersions(name, FetchStatus.FAILED, validators=old, error=exc.reason)
        except Exception as exc:  # a bug or an unforeseen library error costs one project, not the run
            error = one_line(f"unexpected {describe(exc)} ({mask_url(url)})")
            return ProjectVersions(name, FetchStatus.FAILED, validators=old, error=error)

    def fetch_many(
        self,
        items: Iterable[tuple[str, PageValidators | None]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[ProjectVersions, None, None]:
        """Yield the versions of each (project, validators) item, concurrently, in order of completion.

        Exactly one result is yielded per item; a project's failure is a FAILED result, never an exception.
        Closing the generator early cancels what has not started (at most twice ``concurrency`` is queued);
        so does ``should_stop()`` turning true, which is checked while waiting, so that a stop is prompt.
        """
        executor = self._get_executor()
        iterator = iter(items)
        pending: dict[Future[ProjectVersions], str] = {}
        # Futures announce themselves when done: constant work per result, unlike wait() over every pending one.
        finished: queue.SimpleQueue[Future[ProjectVersions]] = queue.SimpleQueue()
        exhausted = False
        try:
            while True:
                # Bounded submission keeps memory proportional to the concurrency, not to the input.
                while not exhausted and len(pending) < 2 * self._concurrency:
                    try:
                        project, validators = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    future = executor.submit(self.project_versions, project, validators)
                    pending[future] = project
                    future.add_done_callback(finished.put)
                if not pending:
                    return
                try:
                    future = finished.get(timeout=_STOP_POLL_SECONDS)
                except queue.Empty:
                    if should_stop is not None and should_stop():
                        return
                    continue
                project = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # project_versions does not raise; this is the last resort
                    error = one_line(f"unexpected {describe(exc)}")
                    result = ProjectVersions(normalize_name(project), FetchStatus.FAILED, error=error)
                yield result
        finally:
            for future in pending:
                future.cancel()

    def project_listing(self, validators: PageValidators | None = None) -> ProjectListing:
        """Return the projects the index lists, conditional on the validators of the previous fetch; never raises."""
        old = validators or PageValidators()
        url = f"{self.index_url}/"
        try:
            reply = self._request(url, _conditional_headers(old), listing=True)
            if reply.status == 304:
                return ProjectListing(FetchStatus.NOT_MODIFIED, validators=_not_modified_validators(old, reply.headers))
            if reply.status != 200:
                raise _FetchFailedError(one_line(f"HTTP {reply.status} from {mask_url(url)}"))
            try:
                projects, serials, body_serial = _parse_listing(reply.body, reply.headers.get("Content-Type", ""))
            except PageError as exc:
                raise _FetchFailedError(one_line(f"{exc} ({mask_url(url)})")) from None
            return ProjectListing(
                FetchStatus.OK, projects=projects, serials=serials, validators=self._new_validators(reply, body_serial)
            )
        except _FetchFailedError as exc:
            return ProjectListing(FetchStatus.FAILED, validators=old, error=exc.reason)
        except Exception as exc:  # a bug or an unforeseen library error must not end the run
            return ProjectListing(
                FetchStatus.FAILED, validators=old, error=one_line(f"unexpected {describe(exc)} ({mask_url(url)})")
            )

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="simple-index")
            return self._executor

    def _project_versions(self, name: str, url: str, old: PageValidators) -> ProjectVersions:
        reply = self._request(url, _conditional_headers(old))
        if reply.status == 304:
            return ProjectVersions(
                name, FetchStatus.NOT_MODIFIED, validators=_not_modified_validators(old, reply.headers)
            )
        if reply.status in _GONE_STATUSES:
            return ProjectVersions(name, FetchStatus.NOT_FOUND)
        versions, invalid, validators = self._parse_project_reply(name, url, reply)
        if _is_stale(validators.serial, old.serial):
            # A CDN node may serve an older copy; ask once more, bypassing caches and our own validators.
            reply = self._request(url, _NO_CACHE)
            if reply.status in _GONE_STATUSES:
                return ProjectVersions(name, FetchStatus.NOT_FOUND)
            versions, invalid, validators = self._parse_project_reply(name, url, reply)
            if _is_stale(validators.serial, old.serial):
                error = f"stale page: serial {validators.serial} < recorded {old.serial}"
                return ProjectVersions(name, FetchStatus.STALE, validators=old, error=error)
        return ProjectVersions(name, FetchStatus.OK, versions, invalid, validators)

    def _parse_project_reply(
        self, name: str, url: str, reply: _Reply
    ) -> tuple[tuple[str, ...], tuple[str, ...], PageValidators]:
        if reply.status != 200:
            raise _FetchFailedError(one_line(f"HTTP {reply.status} from {mask_url(url)}"))
        try:
            versions, invalid, body_serial = parse_project_page(
                name, reply.body, reply.headers.get("Content-Type", ""), url
            )
        except PageError as exc:
            raise _FetchFailedError(one_line(f"{exc} ({mask_url(url)})")) from None
        return versions, invalid, self._new_validators(reply, body_serial)

    @staticmethod
    def _new_validators(reply: _Reply, body_serial: int | None) -> PageValidators:
        header_serial = _as_serial(reply.headers.get("X-PyPI-Last-Serial"))
        return PageValidators(
            etag=reply.headers.get("ETag"),
            last_modified=reply.headers.get("Last-Modified"),
            serial=header_serial if header_serial is not None else body_serial,
        )

    def _request(self, url: str, headers: Mapping[str, str], *, listing: bool = False) -> _Reply:
        """Return the final response to a GET, retrying transient failures; raise _FetchFailedError.

        The project listing of a large index (PyPI's is ~30 MB) gets larger size and time limits than a page.
        """
        attempts = self._retries + 1
        reason = ""
        for attempt in range(attempts):
            if self._cancelled.is_set() and attempt > 0:
                raise _FetchFailedError(one_line(f"{reason} from {mask_url(url)}; not retried, the run is stopping"))
            delay: float | None = None
            try:
                reply = self._attempt(url, headers, listing=listing)
            except _TransientError as exc:
                reason = str(exc)
            except _FatalError as exc:
                raise _FetchFailedError(one_line(f"{exc} from {mask_url(url)}")) from None
            else:
                if reply.status not in _RETRY_STATUSES:
                    return reply
                reason = f"HTTP {reply.status}"
                delay = _retry_after(reply.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                if delay is None:
                    base = self._backoff * 2**attempt
                    delay = min(base + random.uniform(0, base / 2), _MAX_DELAY)  # noqa: S311 (jitter, not crypto)
                with self._lock:
                    self._retry_count += 1
                if delay > 0:
                    self._sleep(delay)
        plural = "s" if attempts > 1 else ""
        raise _FetchFailedError(one_line(f"{reason} from {mask_url(url)} after {attempts} attempt{plural}"))

    def _attempt(self, url: str, headers: Mapping[str, str], *, listing: bool = False) -> _Reply:
        """Return one response with its whole body; raise _TransientError or _FatalError."""
        try:
            response = self._session.get(
                url,
                headers=headers,
                timeout=(self._timeout, self._timeout),
                stream=True,
                verify=self._verify,
            )
        except requests.exceptions.SSLError as exc:
            # Certificate and protocol mismatches do not heal within a run; retrying them only costs time.
            self._count("error")
            raise _FatalError(describe(exc)) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            self._count("error")
            raise _TransientError(describe(exc)) from None
        except requests.RequestException as exc:
            self._count("error")
            raise _FatalError(describe(exc)) from None
        with response:
            self._count(str(response.status_code))
            try:
                body = self._read_body(response, listing=listing)
            except (_TransientError, _FatalError):
                if response.status_code == 200:
                    raise
                body = b""  # only a page's body matters; an error's status says enough
            return _Reply(response.status_code, response.headers, body)

    def _read_body(self, response: requests.Response, *, listing: bool = False) -> bytes:
        """Return a response's decoded body, within the size limit and the whole-body deadline."""
        raw: urllib3.BaseHTTPResponse = response.raw
        timeout = self._timeout * LISTING_LIMIT_FACTOR if listing else self._timeout
        max_bytes = self._max_body_bytes * LISTING_LIMIT_FACTOR if listing else self._max_body_bytes
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # read1 returns what one socket read brings, so a server trickling bytes cannot keep a
                # single call busy past the deadline; a silent one is cut by the read timeout.
                try:
                    chunk = raw.read1(_CHUNK_SIZE, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise _TransientError(f"read timeout: {describe(exc)}") from None
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise _TransientError(f"truncated body: {describe(exc)}") from None
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > max_bytes:
                    raise _FatalError(f"body exceeds {max_bytes} bytes")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _TransientError(f"body not received within {timeout:g} s")
        finally:
            with self._lock:
                self._bytes_received += raw.tell()

    def _count(self, key: str) -> None:
        with self._lock:
            self._by_status[key] += 1
            self._requests += 1
