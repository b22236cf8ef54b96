"""Failed requests: their description in plain words, and the rule that says whether to try again, and when.

urllib3 and requests describe a refused connection as ``HTTPConnectionPool(host=..., port=...): Max retries
exceeded with url: /path (Caused by NewConnectionError(...))``: long, cut off in a summary, and naming a path
that may carry a secret. :func:`describe_failure` says the same in a few words ("connection refused by
127.0.0.1:18080", "timed out after 30 s", "name not resolved: host").
"""

from __future__ import annotations

import http.client
import random
import ssl
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final

import requests
import urllib3.exceptions

from thoth.package_releases.redact import describe, one_line

# Longest wait between two attempts, whatever a server's Retry-After asks for.
MAX_DELAY: Final = 60.0


class RequestFailed(Exception):
    """A request that gave no usable answer: ``str()`` says why in plain words (one line, no URL).

    ``retryable`` tells whether trying again may help; ``retry_after`` is the delay the server asked for.
    """

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


def _causes(error: BaseException) -> list[BaseException]:
    """Return an exception and what it wraps (requests' args, urllib3's reason, the exception chain)."""
    found: list[BaseException] = []
    pending: list[Any] = [error]
    while pending and len(found) < 12:
        current = pending.pop(0)
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        pending.extend(
            getattr(current, name, None) for name in ("reason", "original_error", "__cause__", "__context__")
        )
    return found


def _address(causes: list[BaseException]) -> str | None:
    for cause in causes:
        connection = getattr(cause, "conn", None)
        host = getattr(connection, "host", None)
        if host:
            port = getattr(connection, "port", None)
            return f"{host}:{port}" if port else str(host)
    return None


def describe_failure(error: BaseException, *, timeout: float | None = None) -> str:
    """Return why a request failed, in plain words and one line, without the URL requests puts in its messages.

    ``timeout`` is the time limit the request had, named when it timed out.
    """
    causes = _causes(error)
    where = _address(causes)
    by = f" by {where}" if where else ""
    after = f" after {timeout:g} s" if timeout is not None else ""
    for cause in causes:
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return f"name not resolved: {getattr(cause, '_host', None) or where or '?'}"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, urllib3.exceptions.NewConnectionError) and "refused" in str(cause).lower()
        ):
            return f"connection refused{by}"
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return one_line(f"cannot connect{' to ' + where if where else ''}: {_reason(cause).split(': ')[-1]}")
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError | requests.ConnectTimeout):
            return f"timed out{after} connecting{' to ' + where if where else ''}"
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | requests.ReadTimeout | TimeoutError):
            return f"timed out{after}"
        if isinstance(cause, ssl.SSLError | urllib3.exceptions.SSLError) and not isinstance(
            cause, requests.exceptions.SSLError
        ):
            return one_line(f"TLS error{by}: {_reason(cause)}")
        if isinstance(cause, ConnectionResetError):
            return f"connection reset{by}"
        if isinstance(cause, http.client.RemoteDisconnected):
            return f"connection closed{by} without an answer"
        if isinstance(cause, urllib3.exceptions.ProxyError):
            return one_line(f"proxy error: {_reason(cause.original_error)}")
        if isinstance(cause, requests.TooManyRedirects):
            return "too many redirects"
        if isinstance(cause, requests.exceptions.InvalidHeader):
            # requests quotes the header whole: never echo it, it may be a credential.
            return "invalid header value (leading or trailing whitespace, or a control character): not sent"
    return one_line(_fallback(error))


def _reason(error: BaseException) -> str:
    """Return the message of an exception, without any 'Caused by' chain or URL urllib3 adds."""
    text = getattr(error, "reason", None) or (error.args[-1] if error.args else error)
    return str(text).split(" (Caused by ")[0]


def _fallback(error: BaseException) -> str:
    """Return 'Type: what went wrong' for an error with no plain description, from urllib3's reason if any."""
    cause = error.args[0] if isinstance(error, requests.RequestException) and error.args else None
    reason = getattr(cause, "reason", None)
    if not isinstance(reason, BaseException):
        return describe(error)
    return f"{type(error).__name__}: {reason}"


def transport_failure(error: requests.RequestException, *, timeout: float | None = None) -> RequestFailed:
    """Return the failure a request exception stands for, with the rule of its kind.

    Connection failures and timeouts are retried; TLS failures (certificates, protocols) are not: they do not
    heal within a run. Any other request error (an invalid URL, too many redirects) is final too.
    """
    retryable = isinstance(error, requests.ConnectionError | requests.Timeout) and not isinstance(
        error, requests.exceptions.SSLError
    )
    return RequestFailed(describe_failure(error, timeout=timeout), retryable=retryable)


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
