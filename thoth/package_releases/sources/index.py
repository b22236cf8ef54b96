"""One package index's simple API: project listing and project pages, through the job's HTTP policy.

Pages are fetched with conditional requests (ETag / Last-Modified), retried on transient failures,
checked against the index serial recorded by the previous run (stale CDN copies), and parsed into
PEP 440-normalized versions. Every failure is reported per project as a value, never raised.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, Self, TypeVar

from thoth.package_releases.clean import clean_text, clean_validator
from thoth.package_releases.normalize import normalize_name
from thoth.package_releases.redact import describe, mask_url, one_line
from thoth.package_releases.sources.http import (
    BodyError,
    BodyProblem,
    Reply,
    RequestFailed,
    backoff_delay,
    get,
    new_session,
    retry_after,
    retryable_status,
    stream,
)
from thoth.package_releases.sources.limits import DEFAULT_MEMORY_BUDGET, Allowance, MemoryBudget
from thoth.package_releases.sources.listing import ProjectListing, read_listing
from thoth.package_releases.sources.pages import ACCEPT, PageError, ProjectPage, as_serial, parse_project_page
from thoth.package_releases.sources.results import FetchStatus as FetchStatus
from thoth.package_releases.sources.results import ListingResult as ListingResult
from thoth.package_releases.sources.results import ProjectResult as ProjectResult
from thoth.package_releases.sources.results import conditional_headers, is_stale, not_modified_validators
from thoth.package_releases.values import PageValidators

_GONE_STATUSES: Final = frozenset({404, 410})
# The project listing of a large index (PyPI's is ~30 MB) may be this many times larger and slower than a page.
LISTING_LIMIT_FACTOR: Final = 10
# How often fetch_many looks at should_stop while it waits for results.
_STOP_POLL_SECONDS: Final = 0.25
_NO_CACHE: Final = {"Cache-Control": "no-cache", "Pragma": "no-cache"}


class _FetchFailedError(Exception):
    """A request that ended without a usable response; ``reason`` is one masked line, control characters escaped."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = clean_text(reason)


def _new_validators(reply: Reply | _ListingAnswer, body_serial: int | None) -> PageValidators:
    header_serial = as_serial(reply.headers.get("X-PyPI-Last-Serial"))
    # Validators are sent back as request headers and stored: one with a control character is dropped.
    return PageValidators(
        etag=clean_validator(reply.headers.get("ETag")),
        last_modified=clean_validator(reply.headers.get("Last-Modified")),
        serial=header_serial if header_serial is not None else body_serial,
    )


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
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        sleep: Callable[[float], None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Prepare a client for the index at ``index_url`` (no request is made yet).

        ``timeout`` bounds connecting, each read, and reading a whole body; ``retries`` is the number of
        extra attempts after a transient failure; ``sleep`` is how the client waits between attempts.
        ``memory_budget`` bounds the decompressed bytes of the pages in flight together (until parsed).
        Credentials come from the URL's user-info or else from ~/.netrc (or $NETRC); proxies and the CA
        bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) from ``environ`` (default: the process environment).
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
        self._budget = MemoryBudget(memory_budget)
        self._cancelled = threading.Event()
        # Backoff waits end early when the client is cancelled, so that a stopping run is not held up.
        self._sleep = sleep if sleep is not None else self._cancelled.wait
        self._session = new_session(
            os.environ if environ is None else environ,
            verify=verify_ssl,
            pool_size=concurrency,
            headers={"Accept": ACCEPT},
        )
        self._lock = threading.Lock()
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

    def project_versions(self, project: str, validators: PageValidators | None = None) -> ProjectResult:
        """Return a project's versions, conditional on the validators of the previous fetch; never raises."""
        name = normalize_name(project)
        old = validators or PageValidators()
        url = f"{self.index_url}/{name}/"
        try:
            with self._budget.allowance() as allowance:
                return self._project_versions(name, url, old, allowance)
        except _FetchFailedError as exc:
            return ProjectResult(name, FetchStatus.FAILED, validators=old, error=exc.reason)
        except Exception as exc:  # a bug or an unforeseen library error costs one project, not the run
            error = one_line(f"unexpected {describe(exc)} ({mask_url(url)})")
            return ProjectResult(name, FetchStatus.FAILED, validators=old, error=error)

    def fetch_many(
        self,
        items: Iterable[tuple[str, PageValidators | None]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[ProjectResult, None, None]:
        """Yield the versions of each (project, validators) item, concurrently, in order of completion.

        Exactly one result is yielded per item; a project's failure is a FAILED result, never an exception.
        Closing the generator early cancels what has not started (at most twice ``concurrency`` is queued);
        so does ``should_stop()`` turning true, which is checked while waiting, so that a stop is prompt. Once
        the client is cancelled or asked to stop, the failures of requests cut short end the generator: they are
        not the projects' failures.
        """
        executor = self._get_executor()
        iterator = iter(items)
        pending: dict[Future[ProjectResult], str] = {}
        # Futures announce themselves when done: constant work per result, unlike wait() over every pending one.
        finished: queue.SimpleQueue[Future[ProjectResult]] = queue.SimpleQueue()
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
                    result = ProjectResult(normalize_name(project), FetchStatus.FAILED, error=error)
                if result.status is FetchStatus.FAILED and self._stopping(should_stop):
                    return  # cut short by the stop: not a failure of the project
                yield result
        finally:
            for future in pending:
                future.cancel()

    def _stopping(self, should_stop: Callable[[], bool] | None) -> bool:
        return self._cancelled.is_set() or (should_stop is not None and should_stop())

    def project_listing(self, validators: PageValidators | None = None) -> ListingResult:
        """Return the projects the index lists, conditional on the validators of the previous fetch; never raises."""
        old = validators or PageValidators()
        url = f"{self.index_url}/"
        try:
            answer = self._retrying(url, lambda: self._listing_attempt(url, conditional_headers(old)))
            if answer.status == 304:
                return ListingResult(FetchStatus.NOT_MODIFIED, validators=not_modified_validators(old, answer.headers))
            if answer.listing is None:
                raise _FetchFailedError(one_line(f"HTTP {answer.status} from {mask_url(url)}"))
            listing = answer.listing
            return ListingResult(
                FetchStatus.OK,
                projects=listing.names,
                serials=listing.serials,
                validators=_new_validators(answer, listing.serial),
                invalid_names=listing.invalid_names,
                invalid_examples=listing.invalid_examples,
            )
        except _FetchFailedError as exc:
            return ListingResult(FetchStatus.FAILED, validators=old, error=exc.reason)
        except Exception as exc:  # a bug or an unforeseen library error must not end the run
            return ListingResult(
                FetchStatus.FAILED, validators=old, error=one_line(f"unexpected {describe(exc)} ({mask_url(url)})")
            )

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="simple-index")
            return self._executor

    def _project_versions(self, name: str, url: str, old: PageValidators, allowance: Allowance) -> ProjectResult:
        reply = self._request(url, conditional_headers(old), allowance)
        if reply.status == 304:
            return ProjectResult(name, FetchStatus.NOT_MODIFIED, validators=not_modified_validators(old, reply.headers))
        if reply.status in _GONE_STATUSES:
            return ProjectResult(name, FetchStatus.NOT_FOUND)
        page, validators = self._read_page(name, url, reply)
        if is_stale(validators.serial, old.serial):
            # A CDN node may serve an older copy; ask once more, bypassing caches and our own validators.
            reply = self._request(url, _NO_CACHE, allowance)
            if reply.status in _GONE_STATUSES:
                return ProjectResult(name, FetchStatus.NOT_FOUND)
            page, validators = self._read_page(name, url, reply)
            if is_stale(validators.serial, old.serial):
                error = f"stale page: serial {validators.serial} < recorded {old.serial}"
                return ProjectResult(name, FetchStatus.STALE, validators=old, error=error)
        return ProjectResult(name, FetchStatus.OK, page.versions, page.invalid_versions, validators, page=page)

    @staticmethod
    def _read_page(name: str, url: str, reply: Reply) -> tuple[ProjectPage, PageValidators]:
        if reply.status != 200:
            raise _FetchFailedError(one_line(f"HTTP {reply.status} from {mask_url(url)}"))
        try:
            page = parse_project_page(name, reply.body, reply.headers.get("Content-Type", ""))
        except PageError as exc:
            raise _FetchFailedError(one_line(f"{exc} ({mask_url(url)})")) from None
        return page, _new_validators(reply, page.serial)

    def _request(self, url: str, headers: Mapping[str, str], allowance: Allowance) -> Reply:
        """Return the final response to a page's GET, retrying transient failures; raise _FetchFailedError."""
        return self._retrying(url, lambda: self._attempt(url, headers, allowance))

    def _retrying(self, url: str, attempt: Callable[[], _A]) -> _A:
        """Return the final answer of ``attempt`` (one request of ``url``), retrying transient failures.

        Raises _FetchFailedError when the failures are final, or the attempts all failed.
        """
        attempts = self._retries + 1
        reason = ""
        for number in range(attempts):
            if self._cancelled.is_set() and number > 0:
                raise _FetchFailedError(one_line(f"{reason} from {mask_url(url)}; not retried, the run is stopping"))
            asked: float | None = None
            try:
                answer = attempt()
            except RequestFailed as failure:
                if not failure.retryable:
                    raise _FetchFailedError(one_line(f"{failure.reason} from {mask_url(url)}")) from None
                reason = failure.reason
            else:
                if not retryable_status(answer.status):
                    return answer
                reason = f"HTTP {answer.status}"
                asked = retry_after(answer.headers.get("Retry-After"))
            if number + 1 < attempts:
                delay = backoff_delay(self._backoff, number, asked)
                if delay > 0:
                    self._sleep(delay)
        plural = "s" if attempts > 1 else ""
        raise _FetchFailedError(one_line(f"{reason} from {mask_url(url)} after {attempts} attempt{plural}"))

    def _attempt(self, url: str, headers: Mapping[str, str], allowance: Allowance) -> Reply:
        """Return one response with its whole body; raise RequestFailed."""
        try:
            return get(
                self._session,
                url,
                timeout=self._timeout,
                max_bytes=self._max_body_bytes,
                headers=headers,
                should_stop=self._cancelled.is_set,
                allowance=allowance,
            )
        except BodyError as error:
            raise _body_failure(error, self._max_body_bytes, self._timeout) from None

    def _listing_attempt(self, url: str, headers: Mapping[str, str]) -> _ListingAnswer:
        """Return one response to the listing's GET, a 200's body read as it arrives; raise RequestFailed.

        The listing of a large index (PyPI's is ~30 MB) gets larger size and time limits than a page; it is
        parsed piece by piece, never held whole (a parse error raises _FetchFailedError: it is not retried).
        """
        # Fetched alone (before the pages): its pieces and its names are bounded by the whole budget, not shared.
        allowance = Allowance(MemoryBudget(self._budget.limit))
        timeout = self._timeout * LISTING_LIMIT_FACTOR
        max_bytes = self._max_body_bytes * LISTING_LIMIT_FACTOR
        try:
            with stream(
                self._session,
                url,
                timeout=self._timeout,
                body_timeout=timeout,
                max_bytes=max_bytes,
                headers=headers,
                should_stop=self._cancelled.is_set,
                allowance=allowance,
            ) as answer:
                if answer.status != 200:  # a listing only when it is a 200
                    return _ListingAnswer(answer.status, answer.headers, None)
                try:
                    content_type = answer.headers.get("Content-Type", "")
                    listing = read_listing(answer.pieces, content_type, url, allowance=allowance)
                except PageError as exc:
                    raise _FetchFailedError(one_line(f"{exc} ({mask_url(url)})")) from None
                return _ListingAnswer(answer.status, answer.headers, listing)
        except BodyError as error:
            raise _body_failure(error, max_bytes, timeout) from None


class _Answer(Protocol):
    """What the retry rule looks at in an answer: its status and headers."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


_A = TypeVar("_A", bound=_Answer)


@dataclass(frozen=True)
class _ListingAnswer:
    """The answer to a GET of the listing: its status and headers, and the listing (a 200's, parsed)."""

    status: int
    headers: Mapping[str, str]
    listing: ProjectListing | None


def _body_failure(error: BodyError, max_bytes: int, timeout: float) -> RequestFailed:
    """Return the failure of a page whose body could not be read: too large is final, the rest is retried."""
    if error.problem is BodyProblem.TOO_LARGE:
        over = error.detail if error.detail.startswith("over ") else f"exceeds {max_bytes} bytes"
        return RequestFailed(f"body {over}", retryable=False)
    if error.problem is BodyProblem.OVER_BUDGET:
        # Others' bodies held the budget: another try (after the backoff) may find it free.
        return RequestFailed(f"bodies in flight exceed the memory budget of {error.detail}", retryable=True)
    if error.problem is BodyProblem.TOO_SLOW:
        return RequestFailed(f"body not received within {timeout:g} s", retryable=True)
    return RequestFailed(f"{error.problem.value}: {error.detail}", retryable=True)
