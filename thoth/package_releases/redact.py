"""Masking of secrets (passwords in URLs, credential headers) before anything is logged or reported."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from urllib.parse import unquote, urlsplit, urlunsplit

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
# The look-behind makes a scheme start only where a run of scheme characters starts: without it every letter
# of a long word would be tried as the start of a scheme, scanning the rest of the word each time (quadratic).
# A password runs to the last "@" before the next "/" or space, so an unencoded "@" in it is masked too.
_URL_CREDENTIALS = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^/\s]*)@"
)
# libpq keyword/value connection strings: password=secret or password='se cret' (backslash escapes).
_DSN_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<value>'(?:[^'\\]|\\.)*'?|[^\s']\S*)", re.IGNORECASE)
_DSN_URL = re.compile(r"\s*[a-zA-Z][a-zA-Z0-9+.-]*://")
_SEPARATORS = re.compile(r"[/@:?#&=\s]+")


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
    """Return free text (an error message, say) with every URL password and ``password=`` value in it masked.

    Takes time linear in the length of the text.
    """
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    return _DSN_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", text)


def mask_dsn(dsn: str) -> str:
    """Return a database connection string (URL or libpq keyword/value form) with its password masked.

    In the URL form the user-info part runs to the last ``@``, so that a password with an unencoded ``/`` or
    ``@`` is masked whole rather than shown in part as a host, port or database name.
    """
    if _DSN_URL.match(dsn) is None:
        return mask_text(dsn)
    scheme, _, rest = dsn.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    if not at:
        return mask_text(dsn)
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}:{MASK}@{hosts}" if colon else dsn


def dsn_secrets(dsn: str) -> list[str]:
    """Return the password of a connection string and its pieces (split at URL separators), never to be shown.

    The pieces matter when a password with an unencoded ``/`` or ``@`` is misread by libpq, whose error
    messages may then name a piece of it as a host, a port or a database.
    """
    found: list[str] = []
    if _DSN_URL.match(dsn) is not None:
        userinfo, at, _ = dsn.partition("://")[2].rpartition("@")
        _, colon, password = userinfo.partition(":")
        if at and colon:
            found.append(password)
            with suppress(ValueError):
                found.append(unquote(password, errors="strict"))
    for match in _DSN_PASSWORD.finditer(dsn):
        value = match.group("value")
        found.append(value)
        if value.startswith("'"):
            found.append(re.sub(r"\\(.)", r"\1", value.strip("'")))
    pieces = [piece for secret in found for piece in _SEPARATORS.split(secret)]
    return sorted({value for value in [*found, *pieces] if len(value) >= _MIN_SECRET}, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """Return text with every given secret (of at least four characters), and its escaped forms, masked."""
    variants = {form for secret in secrets for form in _forms(secret) if len(form) >= _MIN_SECRET}
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _forms(secret: str) -> tuple[str, ...]:
    """Return the ways a secret shows in a message: as is, without surrounding white space, and as in a repr."""
    stripped = secret.strip()
    return (secret, stripped, repr(secret)[1:-1], repr(stripped)[1:-1])


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
        text = scrub(mask_parameters(text), secrets)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def describe(error: BaseException) -> str:
    """Return an exception as 'Type: message' (just 'Type' when it has no message)."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
