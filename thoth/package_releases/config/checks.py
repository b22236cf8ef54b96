"""Checks of single configuration values (types, mappings, URLs), raising :class:`Invalid` at a key path."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

from thoth.package_releases.redact import mask_url
from thoth.package_releases.values import EVENT_KINDS

_CREDENTIALS_HINT = "credentials must not be written in the configuration; put them in ~/.netrc (see README)"
_SHOWN_VALUE_MAX = 80
# C0 and C1 control characters, DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_T = TypeVar("_T")


class Invalid(Exception):
    """A validation problem at a key path; turned into ConfigError by parse_config."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def has_control(text: str) -> bool:
    """Tell whether text holds a control character (line breaks and tabs included)."""
    return _CONTROL.search(text) is not None


def show(value: object) -> str:
    """Return a short description of a YAML value for an error message."""
    kinds: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
    kinds.update({list: "list", dict: "mapping", type(None): "null"})
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) or value is None:
        return kind
    return f"{quote(value)} ({kind})"


def quote(value: object) -> str:
    """Return the repr of a value, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_MAX else text[: _SHOWN_VALUE_MAX - 4] + "...'"


def join(path: str, key: str) -> str:
    """Return the key path of a key under path (the key quoted when it is not a plain word, cut when long)."""
    if len(key) > _SHOWN_VALUE_MAX:
        key = key[: _SHOWN_VALUE_MAX - 3] + "..."
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def fail(path: str, reason: str) -> NoReturn:
    """Raise Invalid at a key path."""
    raise Invalid(path, reason)


def mapping(value: object, path: str, allowed: tuple[str, ...]) -> dict[str, object]:
    """Return value as a mapping with only allowed keys; null is an empty mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        fail(path, f"expected a mapping, got {show(value)}")
    for key in value:
        if not isinstance(key, str):
            fail(path, f"expected string keys, got {show(key)}")
        if key not in allowed:
            fail(join(path, key), f"unknown key; allowed keys: {', '.join(allowed)}")
    return value


def as_list(value: object, path: str) -> list[object]:
    """Return value as a list; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        fail(path, f"expected a list, got {show(value)}")
    return value


def as_bool(value: object, path: str) -> bool:
    """Return value, a boolean."""
    if not isinstance(value, bool):
        fail(path, f"expected a boolean (true or false), got {show(value)}")
    return value


def as_str(value: object, path: str) -> str:
    """Return value, a string."""
    if not isinstance(value, str):
        fail(path, f"expected a string, got {show(value)}")
    return value


def optional(data: Mapping[str, object], key: str, path: str, check: Callable[[object, str], _T], default: _T) -> _T:
    """Return the checked value of an optional key, or the default when the key is absent."""
    return check(data[key], join(path, key)) if key in data else default


def required(data: Mapping[str, object], key: str, path: str) -> object:
    """Return the value of a key that must be present."""
    if key not in data:
        fail(join(path, key), "missing required key")
    return data[key]


def event_kinds(value: object, path: str) -> tuple[str, ...]:
    """Return a non-empty list of release event kinds, without duplicates, in the order of ``EVENT_KINDS``."""
    items = as_list(value, path)
    if not items:
        fail(path, f"expected a list of at least one event kind among {', '.join(EVENT_KINDS)}")
    for position, item in enumerate(items):
        if item not in EVENT_KINDS:
            fail(f"{path}[{position}]", f"expected one of {', '.join(EVENT_KINDS)}, got {show(item)}")
    return tuple(kind for kind in EVENT_KINDS if kind in items)


def http_url(value: object, path: str) -> str:
    """Return a stripped http(s) URL with a host and no credentials."""
    url = as_str(value, path).strip()
    problem = url_problem(url)
    if problem:
        fail(path, f"{problem}, got {quote(mask_url(url))}")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        # Neither the user name (often a token) nor the password is shown.
        shown = urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
        fail(path, f"{_CREDENTIALS_HINT}; got {shown!r}")
    return url


def literal_credentials(template: str) -> bool:
    """Tell whether a URL template spells out a user-info part (``user:secret@``) with no placeholder in it."""
    _, separator, rest = template.partition("://")
    if not separator:
        return False
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    return bool(at) and "{" not in userinfo


def url_problem(url: str) -> str | None:
    """Return why a string is not an http(s) URL with a host, or None when it is one."""
    expected = "expected an http(s) URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on an invalid port
    except ValueError:
        return expected
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return expected
    if _CONTROL.search(url):
        return f"{expected} without control characters"
    return None
