"""Loading and validation of the job's configuration (``thoth.yaml``, from a local path or an http(s) URL).

Two formats are accepted. The current one has up to three top-level keys::

    indexes: [{url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen}, ...]
    feeds: [{url, index_url}, ...]
    packages: {<name>: {triggers: [{url, method, headers, payload, tls_verify,
                                    version_specifier, prereleases, index_url}, ...]}}

The 2019 (legacy) format is a mapping of package name to ``{triggers: [...]}`` with no indexes or feeds.
Everything is validated up front; any problem is a :class:`ConfigError` naming the source, the key path and
what is wrong, so that a bad configuration stops the job before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml
from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from thoth.package_releases.normalize import PYPI_SIMPLE_URL, is_project_name, normalize_index_url, normalize_name
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.sources.remote import FetchError, fetch
from thoth.package_releases.template import TemplateError, check_template, render

DEFAULT_CONFIG = "config/thoth.yaml"
TRIGGER_METHODS = frozenset({"GET", "POST", "PUT", "PATCH"})

_SECTIONS = ("indexes", "feeds", "packages")
_INDEX_KEYS = ("url", "warehouse_api_url", "verify_ssl", "enabled", "only_if_package_seen")
_FEED_KEYS = ("url", "index_url")
_PACKAGE_KEYS = ("triggers",)
_TRIGGER_KEYS = (
    "url",
    "method",
    "headers",
    "payload",
    "tls_verify",
    "version_specifier",
    "prereleases",
    "index_url",
)
_CREDENTIALS_HINT = "credentials must not be written in the configuration; put them in ~/.netrc (see README)"
# RFC 9110 header field names.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# Values substituted for release fields when checking that a trigger template renders to something valid.
_SAMPLE_RELEASE = {"package_name": "example", "package_version": "1.0.0", "index_url": PYPI_SIMPLE_URL}
# A payload is small; the limits stop alias bombs and self-referencing YAML structures.
_PAYLOAD_MAX_DEPTH = 32
_PAYLOAD_MAX_NODES = 10_000
_SHOWN_VALUE_MAX = 80

_T = TypeVar("_T")


class ConfigError(Exception):
    """The configuration cannot be read or is invalid; ``str()`` is one line: source, key path, reason."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = mask_url(source)
        self.path = path
        self.reason = " ".join(mask_text(reason).split())
        super().__init__(": ".join(part for part in (self.source, self.path, self.reason) if part))


@dataclass(frozen=True)
class IndexConfig:
    """A Python package index to register in the graph (when absent) and to check for new releases."""

    url: str
    warehouse_api_url: str | None = None
    verify_ssl: bool = True
    enabled: bool = True
    only_if_package_seen: bool = True


@dataclass(frozen=True)
class FeedConfig:
    """An RSS feed of new releases, and the index those releases are recorded on."""

    url: str
    index_url: str = PYPI_SIMPLE_URL


@dataclass(frozen=True)
class TriggerConfig:
    """An HTTP request fired for new releases of a monitored package; URL, headers and payload are templates."""

    url: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    # A JSON value, or None for the default payload. Excluded from hashing: it may be a dict or a list.
    payload: Any = field(default=None, hash=False)
    tls_verify: bool = True
    version_specifier: str | None = None
    prereleases: bool = False
    index_url: str | None = None

    def matches(self, package_version: str, index_url: str) -> bool:
        """Return whether this trigger fires for a release of the given version found on the given index.

        Pre-releases (and development releases) match only when ``prereleases`` is true; versions that are
        not valid PEP 440 versions never match.
        """
        if self.index_url is not None and normalize_index_url(index_url) != self.index_url:
            return False
        try:
            version = Version(package_version)
        except InvalidVersion:
            return False
        if version.is_prerelease and not self.prereleases:
            return False
        if self.version_specifier is None:
            return True
        # The pre-release rule is applied above, so the specifier's own pre-release exclusion is turned off.
        return SpecifierSet(self.version_specifier).contains(version, prereleases=True)

    @property
    def key(self) -> str:
        """Return a stable identity of this trigger: the SHA-256 hex digest of its fields as canonical JSON."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PackageConfig:
    """A monitored package (PEP 503 normalized name): checked on every enabled index, with its triggers."""

    name: str
    triggers: tuple[TriggerConfig, ...] = ()


@dataclass(frozen=True)
class Config:
    """The validated configuration of the job."""

    source: str
    indexes: tuple[IndexConfig, ...] = ()
    feeds: tuple[FeedConfig, ...] = ()
    packages: tuple[PackageConfig, ...] = ()

    @property
    def monitored_names(self) -> frozenset[str]:
        """Return the normalized names of the monitored packages."""
        return frozenset(package.name for package in self.packages)


def load_config(
    source: str,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1024 * 1024,
    should_stop: Callable[[], bool] | None = None,
    allow_insecure: bool = False,
) -> Config:
    """Read, parse and validate the configuration at a local path or an http(s) URL.

    Trigger templates are checked against ``environ`` (default: ``os.environ``). A URL is read within
    ``timeout`` seconds in all, or until ``should_stop()`` turns true; over plain http, or redirected to another
    origin, only when ``allow_insecure``. Raises ConfigError.
    """
    environ = os.environ if environ is None else environ
    scheme = _URL_SCHEME.match(source)
    if scheme is None:
        text = _read_file(source, max_bytes)
    elif scheme.group().lower() in ("http://", "https://"):
        try:
            data = fetch(source, environ, timeout, max_bytes, should_stop=should_stop, allow_insecure=allow_insecure)
        except FetchError as error:
            raise ConfigError(source, "", str(error)) from None
        text = _decode(data, source)
    else:
        raise ConfigError(source, "", "expected a local path or an http(s) URL")
    document = _parse_yaml(text, source)
    return parse_config(document, source, environ)


def parse_config(document: object, source: str, environ: Mapping[str, str]) -> Config:
    """Validate an already-loaded YAML document into a Config; raise ConfigError naming what is wrong."""
    try:
        return _Parser(environ).config(document, mask_url(source))
    except _Invalid as problem:
        raise ConfigError(source, problem.path, problem.reason) from None


# -- reading ---------------------------------------------------------------------------------------------------


def _read_file(path: str, max_bytes: int) -> str:
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise ConfigError(path, "", f"cannot read the configuration: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise ConfigError(path, "", f"the configuration is larger than {max_bytes} bytes")
    return _decode(data, path)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(source, "", f"the configuration is not UTF-8 text (byte {error.start})") from None


def _parse_yaml(text: str, source: str) -> object:
    try:
        _reject_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), set())
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = error.problem or error.context or "syntax error"
        raise ConfigError(source, where, f"invalid YAML: {what}") from None
    except yaml.YAMLError as error:
        raise ConfigError(source, "", f"invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(source, "", "invalid YAML: nested too deeply") from None


def _reject_duplicate_keys(node: yaml.Node | None, seen: set[int]) -> None:
    """Raise on a mapping that repeats a key: safe_load would silently keep only the last value."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                earlier = first.setdefault((key.tag, key.value), key)
                if earlier is not key:
                    line = earlier.start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r} (first at line {line})", key.start_mark
                    )
            _reject_duplicate_keys(key, seen)
            _reject_duplicate_keys(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, seen)


# -- validation ------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A validation problem at a key path; turned into ConfigError by parse_config."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _show(value: object) -> str:
    """Return a short description of a YAML value for an error message."""
    kinds: dict[type, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
    kinds.update({list: "list", dict: "mapping", type(None): "null"})
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, dict | list) or value is None:
        return kind
    return f"{_quote(value)} ({kind})"


def _quote(value: object) -> str:
    """Return the repr of a value, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_MAX else text[: _SHOWN_VALUE_MAX - 4] + "...'"


def _join(path: str, key: str) -> str:
    shown = key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)
    return f"{path}.{shown}" if path else shown


def _fail(path: str, reason: str) -> NoReturn:
    raise _Invalid(path, reason)


def _mapping(value: object, path: str, allowed: tuple[str, ...]) -> dict[str, object]:
    """Return value as a mapping with only allowed keys; null is an empty mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(path, f"expected a mapping, got {_show(value)}")
    for key in value:
        if not isinstance(key, str):
            _fail(path, f"expected string keys, got {_show(key)}")
        if key not in allowed:
            _fail(_join(path, key), f"unknown key; allowed keys: {', '.join(allowed)}")
    return value


def _list(value: object, path: str) -> list[object]:
    """Return value as a list; null is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(path, f"expected a list, got {_show(value)}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        _fail(path, f"expected a boolean (true or false), got {_show(value)}")
    return value


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_show(value)}")
    return value


def _optional(data: Mapping[str, object], key: str, path: str, check: Callable[[object, str], _T], default: _T) -> _T:
    """Return the checked value of an optional key, or the default when the key is absent."""
    return check(data[key], _join(path, key)) if key in data else default


def _required(data: Mapping[str, object], key: str, path: str) -> object:
    if key not in data:
        _fail(_join(path, key), "missing required key")
    return data[key]


def _http_url(value: object, path: str) -> str:
    """Return a stripped http(s) URL with a host and no credentials."""
    url = _str(value, path).strip()
    problem = _url_problem(url)
    if problem:
        _fail(path, f"{problem}, got {_quote(mask_url(url))}")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        # Neither the user name (often a token) nor the password is shown.
        shown = urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
        _fail(path, f"{_CREDENTIALS_HINT}; got {shown!r}")
    return url


def _literal_credentials(template: str) -> bool:
    """Tell whether a URL template spells out a user-info part (``user:secret@``) with no placeholder in it."""
    _, separator, rest = template.partition("://")
    if not separator:
        return False
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    userinfo, at, _ = netloc.rpartition("@")
    return bool(at) and "{" not in userinfo


def _url_problem(url: str) -> str | None:
    """Return why a string is not an http(s) URL with a host, or None when it is one."""
    expected = "expected an http(s) URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on an invalid port
    except ValueError:
        return expected
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return expected
    return None


class _Parser:
    """Validation of a configuration document against one environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._sample = {**environ, **_SAMPLE_RELEASE}

    def config(self, document: object, source: str) -> Config:
        if document is None:
            return Config(source=source)
        if not isinstance(document, dict):
            _fail("", f"expected a mapping at the top level, got {_show(document)}")
        keys = set(document)
        if keys <= set(_SECTIONS):
            data = _mapping(document, "", _SECTIONS)
            return Config(
                source=source,
                indexes=self._indexes(data.get("indexes"), "indexes"),
                feeds=self._feeds(data.get("feeds"), "feeds"),
                packages=self._packages(data.get("packages"), "packages"),
            )
        if keys & set(_SECTIONS):
            # A typo ("package:") next to real sections would otherwise read as a legacy package list.
            _mapping(document, "", _SECTIONS)
        return Config(source=source, packages=self._packages(document, ""))

    def _indexes(self, value: object, path: str) -> tuple[IndexConfig, ...]:
        indexes: dict[str, IndexConfig] = {}
        for position, item in enumerate(_list(value, path)):
            here = f"{path}[{position}]"
            data = _mapping(item, here, _INDEX_KEYS)
            url = normalize_index_url(_http_url(_required(data, "url", here), _join(here, "url")))
            if url in indexes:
                _fail(_join(here, "url"), f"duplicate index {url!r}")
            warehouse = _optional(data, "warehouse_api_url", here, self._optional_url, None)
            indexes[url] = IndexConfig(
                url=url,
                warehouse_api_url=warehouse.rstrip("/") if warehouse else None,
                verify_ssl=_optional(data, "verify_ssl", here, _bool, True),
                enabled=_optional(data, "enabled", here, _bool, True),
                only_if_package_seen=_optional(data, "only_if_package_seen", here, _bool, True),
            )
        return tuple(indexes.values())

    def _feeds(self, value: object, path: str) -> tuple[FeedConfig, ...]:
        feeds: dict[str, FeedConfig] = {}
        for position, item in enumerate(_list(value, path)):
            here = f"{path}[{position}]"
            data = _mapping(item, here, _FEED_KEYS)
            url = _http_url(_required(data, "url", here), _join(here, "url"))
            if url in feeds:
                _fail(_join(here, "url"), f"duplicate feed {url!r}")
            index_url = _optional(data, "index_url", here, _http_url, PYPI_SIMPLE_URL)
            feeds[url] = FeedConfig(url=url, index_url=normalize_index_url(index_url))
        return tuple(feeds.values())

    def _packages(self, value: object, path: str) -> tuple[PackageConfig, ...]:
        if value is not None and not isinstance(value, dict):
            _fail(path, f"expected a mapping of package names, got {_show(value)}")
        packages: dict[str, tuple[str, PackageConfig]] = {}
        for name, item in (value or {}).items():
            if not isinstance(name, str):
                _fail(path, f"expected a package name, got {_show(name)} (quote it)")
            here = _join(path, name)
            if not is_project_name(name):
                _fail(
                    here, "invalid package name: expected letters, digits, '.', '_' and '-', alphanumeric at both ends"
                )
            normalized = normalize_name(name)
            if normalized in packages:
                first = packages[normalized][0]
                _fail(here, f"duplicate of package {first!r} (names are compared after PEP 503 normalization)")
            data = _mapping(item, here, _PACKAGE_KEYS)
            triggers = _list(data.get("triggers"), _join(here, "triggers"))
            package = PackageConfig(
                name=normalized,
                triggers=tuple(self._trigger(t, f"{_join(here, 'triggers')}[{i}]") for i, t in enumerate(triggers)),
            )
            packages[normalized] = (name, package)
        return tuple(package for _, package in packages.values())

    def _trigger(self, value: object, path: str) -> TriggerConfig:
        data = _mapping(value, path, _TRIGGER_KEYS)
        url = self._template(_required(data, "url", path), _join(path, "url"))
        rendered = render(url, self._sample)
        if _url_problem(rendered):
            _fail(
                _join(path, "url"), f"expected an http(s) URL once rendered (with sample release values), got {url!r}"
            )
        if _literal_credentials(url):
            _fail(
                _join(path, "url"),
                "credentials must not be written in the configuration; take them from environment variables,"
                " e.g. https://{WEBHOOK_USER}:{WEBHOOK_TOKEN}@host/...",
            )
        method = _optional(data, "method", path, _str, "POST").upper()
        if method not in TRIGGER_METHODS:
            _fail(_join(path, "method"), f"expected one of {', '.join(sorted(TRIGGER_METHODS))}, got {method!r}")
        return TriggerConfig(
            url=url,
            method=method,
            headers=_optional(data, "headers", path, self._headers, ()),
            payload=self._payload(data["payload"], _join(path, "payload")) if "payload" in data else None,
            tls_verify=_optional(data, "tls_verify", path, _bool, True),
            version_specifier=_optional(data, "version_specifier", path, self._specifier, None),
            prereleases=_optional(data, "prereleases", path, _bool, False),
            index_url=_optional(data, "index_url", path, self._optional_index, None),
        )

    def _optional_url(self, value: object, path: str) -> str | None:
        return None if value is None else _http_url(value, path)

    def _optional_index(self, value: object, path: str) -> str | None:
        return None if value is None else normalize_index_url(_http_url(value, path))

    def _template(self, value: object, path: str) -> str:
        """Return a template string whose placeholders are all release fields or set environment variables."""
        template = _str(value, path)
        try:
            check_template(template, self._environ)
        except TemplateError as error:
            _fail(path, str(error))
        return template

    def _headers(self, value: object, path: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping of header names to values, got {_show(value)}")
        headers: dict[str, tuple[str, str]] = {}
        for name, header_value in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                _fail(path, f"expected an HTTP header name, got {_show(name)}")
            here = _join(path, name)
            if name.lower() in headers:
                _fail(here, f"duplicate header (same as {headers[name.lower()][0]!r})")
            template = self._template(header_value, here)
            if "\r" in template or "\n" in template:
                _fail(here, "a header value must not contain a line break")
            headers[name.lower()] = (name, template)
        return tuple(headers.values())

    def _payload(self, value: object, path: str) -> object:
        """Return a JSON value whose strings (keys included) are valid templates."""
        nodes = 0

        def walk(item: object, here: str, depth: int) -> None:
            nonlocal nodes
            nodes += 1
            if nodes > _PAYLOAD_MAX_NODES or depth > _PAYLOAD_MAX_DEPTH:
                _fail(path, f"the payload is too large or too deeply nested (at most {_PAYLOAD_MAX_DEPTH} levels)")
            if isinstance(item, str):
                self._template(item, here)
            elif isinstance(item, list):
                for position, element in enumerate(item):
                    walk(element, f"{here}[{position}]", depth + 1)
            elif isinstance(item, dict):
                for key, element in item.items():
                    if not isinstance(key, str):
                        _fail(here, f"expected string keys in a JSON payload, got {_show(key)}")
                    self._template(key, here)
                    walk(element, _join(here, key), depth + 1)
            elif item is not None and not isinstance(item, bool | int | float):
                _fail(here, f"expected a JSON value (string, number, boolean, null, list, mapping), got {_show(item)}")

        walk(value, path, 0)
        return value

    def _specifier(self, value: object, path: str) -> str:
        text = _str(value, path).strip()
        try:
            specifiers = SpecifierSet(text)
        except InvalidSpecifier:
            specifiers = None
        # packaging 21 silently accepts non-PEP 440 ("legacy") specifiers; only PEP 440 ones are wanted.
        if not text or specifiers is None or not all(isinstance(spec, Specifier) for spec in specifiers):
            _fail(path, f"expected a PEP 440 version specifier such as '>=2.0,<3', got {_show(value)}")
        return text
