"""Validation of a configuration document (already parsed YAML) into the :class:`Config` model.

Two formats are accepted. The current one has up to three top-level keys::

    indexes: [{url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen}, ...]
    feeds: [{url, index_url}, ...]
    packages: {<name>: {triggers: [{url, method, headers, payload, tls_verify,
                                    version_specifier, prereleases, index_url, events}, ...]}}

The 2019 (legacy) format is a mapping of package name to ``{triggers: [...]}`` with no indexes or feeds.
Everything is validated up front; any problem is a :class:`ConfigError` naming the source, the key path and
what is wrong, so that a bad configuration stops the job before it writes anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet

from thoth.package_releases.clean import MAX_NAME_LENGTH
from thoth.package_releases.config.checks import (
    Invalid,
    as_bool,
    as_list,
    as_str,
    event_kinds,
    fail,
    has_control,
    http_url,
    join,
    literal_credentials,
    mapping,
    optional,
    quote,
    required,
    show,
    url_problem,
)
from thoth.package_releases.config.model import (
    DEFAULT_EVENTS,
    RESERVED_PREFIXES,
    TEMPLATE_PREFIX,
    TRIGGER_METHODS,
    Config,
    ConfigError,
    FeedConfig,
    IndexConfig,
    PackageConfig,
    TriggerConfig,
    reserved_variable,
    template_readable,
)
from thoth.package_releases.normalize import PYPI_SIMPLE_URL, is_project_name, normalize_index_url, normalize_name
from thoth.package_releases.redact import mask_url
from thoth.package_releases.template import (
    RELEASE_FIELDS,
    TemplateError,
    check_template,
    is_placeholder_name,
    placeholders,
    render,
)
from thoth.package_releases.values import NEW_RELEASE

_SECTIONS = ("indexes", "feeds", "packages", "template_variables")
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
    "events",
)
# RFC 9110 header field names.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Values substituted for release fields when checking that a trigger template renders to something valid.
_SAMPLE_RELEASE = {
    "event": NEW_RELEASE,
    "package_name": "example",
    "package_version": "1.0.0",
    "index_url": PYPI_SIMPLE_URL,
}
# A payload is small; the limits stop alias bombs and self-referencing YAML structures.
_PAYLOAD_MAX_DEPTH = 32
_PAYLOAD_MAX_NODES = 10_000


def parse_config(document: object, source: str, environ: Mapping[str, str]) -> Config:
    """Validate an already-loaded YAML document into a Config; raise ConfigError naming what is wrong."""
    try:
        return _Parser(environ).config(document, mask_url(source))
    except Invalid as problem:
        raise ConfigError(source, problem.path, problem.reason) from None


class _Parser:
    """Validation of a configuration document against one environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._all_environ = environ
        self._use_variables(())

    def _use_variables(self, listed: tuple[str, ...]) -> None:
        """Let templates read only THOTH_TRIGGER_* variables and the listed ones."""
        self._listed = listed
        self._environ = Config(source="", template_variables=listed).template_environment(self._all_environ)
        self._sample = {**self._environ, **_SAMPLE_RELEASE}

    def config(self, document: object, source: str) -> Config:
        if document is None:
            return Config(source=source)
        if not isinstance(document, dict):
            fail("", f"expected a mapping at the top level, got {show(document)}")
        keys = set(document)
        if keys <= set(_SECTIONS):
            data = mapping(document, "", _SECTIONS)
            variables = self._variables(data.get("template_variables"), "template_variables")
            self._use_variables(variables)
            return Config(
                source=source,
                indexes=self._indexes(data.get("indexes"), "indexes"),
                feeds=self._feeds(data.get("feeds"), "feeds"),
                packages=self._packages(data.get("packages"), "packages"),
                template_variables=variables,
            )
        if keys & set(_SECTIONS):
            # A typo ("package:") next to real sections would otherwise read as a legacy package list.
            mapping(document, "", _SECTIONS)
        return Config(source=source, packages=self._packages(document, ""))

    def _variables(self, value: object, path: str) -> tuple[str, ...]:
        """Return the environment variable names listed for templates: valid names, none of them reserved."""
        names: list[str] = []
        for position, item in enumerate(as_list(value, path)):
            here = f"{path}[{position}]"
            name = as_str(item, here)
            if not is_placeholder_name(name):
                fail(here, f"expected an environment variable name (letters, digits and '_'), got {quote(name)}")
            if reserved_variable(name):
                fail(
                    here,
                    f"templates may not read {name}: the knowledge graph's, the job's, libpq's, the push gateway's "
                    f"and Sentry's variables ({', '.join(p + '*' for p in RESERVED_PREFIXES)}) are never readable",
                )
            if name in names:
                fail(here, f"duplicate variable {name!r}")
            names.append(name)
        return tuple(names)

    def _indexes(self, value: object, path: str) -> tuple[IndexConfig, ...]:
        indexes: dict[str, IndexConfig] = {}
        for position, item in enumerate(as_list(value, path)):
            here = f"{path}[{position}]"
            data = mapping(item, here, _INDEX_KEYS)
            url = normalize_index_url(http_url(required(data, "url", here), join(here, "url")))
            if url in indexes:
                fail(join(here, "url"), f"duplicate index {url!r}")
            warehouse = optional(data, "warehouse_api_url", here, self._optional_url, None)
            indexes[url] = IndexConfig(
                url=url,
                warehouse_api_url=warehouse.rstrip("/") if warehouse else None,
                verify_ssl=optional(data, "verify_ssl", here, as_bool, True),
                enabled=optional(data, "enabled", here, as_bool, True),
                only_if_package_seen=optional(data, "only_if_package_seen", here, as_bool, True),
                written_keys=frozenset(data) - {"url"},
            )
        return tuple(indexes.values())

    def _feeds(self, value: object, path: str) -> tuple[FeedConfig, ...]:
        feeds: dict[str, FeedConfig] = {}
        for position, item in enumerate(as_list(value, path)):
            here = f"{path}[{position}]"
            data = mapping(item, here, _FEED_KEYS)
            url = http_url(required(data, "url", here), join(here, "url"))
            if url in feeds:
                fail(join(here, "url"), f"duplicate feed {url!r}")
            index_url = optional(data, "index_url", here, http_url, PYPI_SIMPLE_URL)
            feeds[url] = FeedConfig(url=url, index_url=normalize_index_url(index_url))
        return tuple(feeds.values())

    def _packages(self, value: object, path: str) -> tuple[PackageConfig, ...]:
        if value is not None and not isinstance(value, dict):
            fail(path, f"expected a mapping of package names, got {show(value)}")
        packages: dict[str, tuple[str, PackageConfig]] = {}
        for name, item in (value or {}).items():
            if not isinstance(name, str):
                fail(path, f"expected a package name, got {show(name)} (quote it)")
            here = join(path, name)
            if len(name) > MAX_NAME_LENGTH:
                fail(here, f"invalid package name: longer than {MAX_NAME_LENGTH} characters ({len(name)})")
            if not is_project_name(name):
                fail(
                    here, "invalid package name: expected letters, digits, '.', '_' and '-', alphanumeric at both ends"
                )
            normalized = normalize_name(name)
            if normalized in packages:
                first = packages[normalized][0]
                fail(here, f"duplicate of package {first!r} (names are compared after PEP 503 normalization)")
            data = mapping(item, here, _PACKAGE_KEYS)
            triggers = as_list(data.get("triggers"), join(here, "triggers"))
            package = PackageConfig(
                name=normalized,
                triggers=tuple(self._trigger(t, f"{join(here, 'triggers')}[{i}]") for i, t in enumerate(triggers)),
            )
            packages[normalized] = (name, package)
        return tuple(package for _, package in packages.values())

    def _trigger(self, value: object, path: str) -> TriggerConfig:
        data = mapping(value, path, _TRIGGER_KEYS)
        url = self._template(required(data, "url", path), join(path, "url"))
        rendered = render(url, self._sample)
        if url_problem(rendered):
            fail(join(path, "url"), f"expected an http(s) URL once rendered (with sample release values), got {url!r}")
        if literal_credentials(url):
            fail(
                join(path, "url"),
                "credentials must not be written in the configuration; take them from environment variables,"
                " e.g. https://{WEBHOOK_USER}:{WEBHOOK_TOKEN}@host/...",
            )
        method = optional(data, "method", path, as_str, "POST").upper()
        if method not in TRIGGER_METHODS:
            fail(join(path, "method"), f"expected one of {', '.join(sorted(TRIGGER_METHODS))}, got {method!r}")
        return TriggerConfig(
            url=url,
            method=method,
            headers=optional(data, "headers", path, self._headers, ()),
            payload=self._payload(data["payload"], join(path, "payload")) if "payload" in data else None,
            tls_verify=optional(data, "tls_verify", path, as_bool, True),
            version_specifier=optional(data, "version_specifier", path, self._specifier, None),
            prereleases=optional(data, "prereleases", path, as_bool, False),
            index_url=optional(data, "index_url", path, self._optional_index, None),
            events=optional(data, "events", path, event_kinds, DEFAULT_EVENTS),
        )

    def _optional_url(self, value: object, path: str) -> str | None:
        return None if value is None else http_url(value, path)

    def _optional_index(self, value: object, path: str) -> str | None:
        return None if value is None else normalize_index_url(http_url(value, path))

    def _template(self, value: object, path: str) -> str:
        """Return a template string whose placeholders are all release fields or set environment variables."""
        template = as_str(value, path)
        try:
            names = placeholders(template) - RELEASE_FIELDS
            refused = sorted(name for name in names if not template_readable(name, self._listed))
            if refused:
                shown = ", ".join("{" + name + "}" for name in refused)
                fail(
                    path,
                    f"unknown placeholder {shown} in {quote(template)}: neither a release field "
                    f"({', '.join(sorted(RELEASE_FIELDS))}) nor an environment variable templates may read "
                    f"({TEMPLATE_PREFIX}* or one listed in template_variables)",
                )
            check_template(template, self._environ)
        except TemplateError as error:
            fail(path, str(error))
        return template

    def _headers(self, value: object, path: str) -> tuple[tuple[str, str], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            fail(path, f"expected a mapping of header names to values, got {show(value)}")
        headers: dict[str, tuple[str, str]] = {}
        for name, header_value in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                fail(path, f"expected an HTTP header name, got {show(name)}")
            here = join(path, name)
            if name.lower() in headers:
                fail(here, f"duplicate header (same as {headers[name.lower()][0]!r})")
            template = self._template(header_value, here)
            if "\r" in template or "\n" in template:
                fail(here, "a header value must not contain a line break")
            if has_control(template.replace("\t", "")):
                fail(here, "a header value must not contain a control character")
            headers[name.lower()] = (name, template)
        return tuple(headers.values())

    def _payload(self, value: object, path: str) -> object:
        """Return a JSON value whose strings (keys included) are valid templates."""
        nodes = 0

        def walk(item: object, here: str, depth: int) -> None:
            nonlocal nodes
            nodes += 1
            if nodes > _PAYLOAD_MAX_NODES or depth > _PAYLOAD_MAX_DEPTH:
                fail(path, f"the payload is too large or too deeply nested (at most {_PAYLOAD_MAX_DEPTH} levels)")
            if isinstance(item, str):
                self._template(item, here)
            elif isinstance(item, list):
                for position, element in enumerate(item):
                    walk(element, f"{here}[{position}]", depth + 1)
            elif isinstance(item, dict):
                for key, element in item.items():
                    if not isinstance(key, str):
                        fail(here, f"expected string keys in a JSON payload, got {show(key)}")
                    self._template(key, here)
                    walk(element, join(here, key), depth + 1)
            elif isinstance(item, float) and not math.isfinite(item):
                fail(here, f"expected a JSON number, got {item!r} (JSON has no NaN or Infinity)")
            elif item is not None and not isinstance(item, bool | int | float):
                fail(here, f"expected a JSON value (string, number, boolean, null, list, mapping), got {show(item)}")

        walk(value, path, 0)
        return value

    def _specifier(self, value: object, path: str) -> str:
        text = as_str(value, path).strip()
        try:
            specifiers = SpecifierSet(text)
        except InvalidSpecifier:
            specifiers = None
        # packaging 21 silently accepts non-PEP 440 ("legacy") specifiers; only PEP 440 ones are wanted.
        if not text or specifiers is None or not all(isinstance(spec, Specifier) for spec in specifiers):
            fail(path, f"expected a PEP 440 version specifier such as '>=2.0,<3', got {show(value)}")
        return text
