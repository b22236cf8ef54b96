"""Masking of secrets (passwords in URLs, credential headers) before anything is logged or reported."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Longest error message a report or log line carries; longer ones are cut with "...".
MAX_MESSAGE = 300

_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"})
# Secrets shorter than this are not searched for in messages: masking every "1" would garble them.
_MIN_SECRET = 4
# Query parameters whose values are credentials, wherever a URL appears in a message.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;][^=&;#\s]*(?:token|key|secret|passw|signature|sig|auth|credential|session)[^=&;#\s]*)="
    r"(?P<value>[^&;#\s'\"]*)",
    re.IGNORECASE,
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]*)@")


def mask_url(url: str) -> str:
    """Return the URL with the password of its user-info part (if any) replaced by a mask."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:{MASK}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def mask_text(text: str) -> str:
    """Return free text (an error message, say) with every URL password in it masked."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)


def mask_parameters(text: str) -> str:
    """Return text with the values of credential-like query parameters (token, key, signature...) masked."""
    return _SECRET_PARAMETER.sub(lambda m: f"{m.group('name')}={MASK}", text)


def display_url(url: str) -> str:
    """Return a URL safe to log: no password, no credential-like query parameter values."""
    return mask_parameters(mask_url(url))


def secret_header_values(headers: Mapping[str, str]) -> list[str]:
    """Return the values of the credential-bearing headers of a request (those long enough to search for)."""
    masked = mask_headers(headers)
    return [value for name, value in headers.items() if masked[name] == MASK and len(value) >= _MIN_SECRET]


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of HTTP headers with credential-bearing values masked."""
    return {name: (MASK if name.lower() in _SENSITIVE_HEADERS else value) for name, value in headers.items()}


def one_line(text: str, *, limit: int = MAX_MESSAGE, secrets: Sequence[str] | None = None) -> str:
    """Return a message with URL passwords masked, folded onto one line, and cut to ``limit`` characters.

    Given ``secrets`` (values that must never be shown), credential-like query parameters and those values
    (the ones of at least four characters) are masked too.
    """
    text = mask_text(text)
    if secrets is not None:
        text = mask_parameters(text)
        for secret in sorted((value for value in secrets if len(value) >= _MIN_SECRET), key=len, reverse=True):
            text = text.replace(secret, MASK)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(error: BaseException) -> str:
    """Return an exception as 'Type: message' (just 'Type' when it has no message)."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
