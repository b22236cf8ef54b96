"""The validated configuration of the job: frozen dataclasses, and the error any problem with it raises."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from thoth.package_releases.normalize import PYPI_SIMPLE_URL, normalize_index_url
from thoth.package_releases.redact import mask_text, mask_url
from thoth.package_releases.values import NEW_RELEASE, ReleaseEvent

DEFAULT_CONFIG = "config/thoth.yaml"
# The events a trigger subscribes to when its ``events:`` key is absent: new releases, as before issue 13.
DEFAULT_EVENTS: Final = (NEW_RELEASE,)
TRIGGER_METHODS = frozenset({"GET", "POST", "PUT", "PATCH"})
# Templates read the environment variables whose names start with this prefix, and those the configuration
# lists under ``template_variables``; no others.
TEMPLATE_PREFIX = "THOTH_TRIGGER_"
# Never readable by a template, even when listed: the knowledge graph's credentials, the job's own options
# (--database-url...), libpq's variables (PGPASSWORD...), the push gateway's and Sentry's settings.
RESERVED_PREFIXES = ("KNOWLEDGE_GRAPH_", "THOTH_PACKAGE_RELEASES_", "PG", "PROMETHEUS_", "SENTRY_")


def reserved_variable(name: str) -> bool:
    """Tell whether an environment variable is one that no template may read, whatever the configuration says."""
    return name.upper().startswith(RESERVED_PREFIXES)


def template_readable(name: str, listed: Iterable[str]) -> bool:
    """Tell whether templates may read an environment variable: THOTH_TRIGGER_* or listed, and not reserved."""
    return not reserved_variable(name) and (name.startswith(TEMPLATE_PREFIX) or name in listed)


# The settings of an index the configuration may write, and apply to a registered index (python_package_index).
INDEX_SETTINGS = ("warehouse_api_url", "verify_ssl", "enabled", "only_if_package_seen")


class ConfigError(Exception):
    """The configuration cannot be read or is invalid; ``str()`` is one line: source, key path, reason."""

    def __init__(self, source: str, path: str, reason: str) -> None:
        self.source = mask_url(source)
        self.path = path
        self.reason = " ".join(mask_text(reason).split())
        super().__init__(": ".join(part for part in (self.source, self.path, self.reason) if part))


@dataclass(frozen=True)
class IndexConfig:
    """A Python package index to register in the graph (when absent) and to check for new releases.

    ``written_keys`` are the settings the configuration writes for it (``url`` aside): those, and only those,
    are applied to an index already registered; the others keep the registered row's values.
    """

    url: str
    warehouse_api_url: str | None = None
    verify_ssl: bool = True
    enabled: bool = True
    only_if_package_seen: bool = True
    written_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FeedConfig:
    """An RSS feed of new releases, and the index those releases are recorded on."""

    url: str
    index_url: str = PYPI_SIMPLE_URL


@dataclass(frozen=True)
class TriggerConfig:
    """An HTTP request fired for release events of a monitored package; URL, headers and payload are templates.

    ``events`` are the kinds of events it subscribes to (in the order of ``EVENT_KINDS``, no duplicates).
    """

    url: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    # A JSON value, or None for the default payload. Excluded from hashing: it may be a dict or a list.
    payload: Any = field(default=None, hash=False)
    tls_verify: bool = True
    version_specifier: str | None = None
    prereleases: bool = False
    index_url: str | None = None
    events: tuple[str, ...] = DEFAULT_EVENTS

    def fires(self, event: ReleaseEvent) -> bool:
        """Return whether this trigger fires for a release event.

        It must subscribe to the event's kind, and the event must match its ``index_url`` filter. For an event
        with a version, the version must also match (see :meth:`matches`); ``missing_package`` has none, so
        ``version_specifier`` and ``prereleases`` do not apply to it.
        """
        if event.kind not in self.events:
            return False
        if event.package_version is None:
            return self._on_index(event.index_url)
        return self.matches(event.package_version, event.index_url)

    def _on_index(self, index_url: str) -> bool:
        return self.index_url is None or normalize_index_url(index_url) == self.index_url

    def matches(self, package_version: str, index_url: str) -> bool:
        """Return whether this trigger fires for a release of the given version found on the given index.

        Pre-releases (and development releases) match only when ``prereleases`` is true; versions that are
        not valid PEP 440 versions never match.
        """
        if not self._on_index(index_url):
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
        """Return a stable identity of this trigger: the SHA-256 hex digest of its fields as canonical JSON.

        ``events`` counts only when it is not the default: a trigger subscribed to new releases alone keeps the
        key it had before the key existed, so that the entries queued for it before then are still delivered.
        """
        fields = asdict(self)
        if self.events == DEFAULT_EVENTS:
            del fields["events"]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
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
    # Environment variables templates may read besides THOTH_TRIGGER_* ones (the ``template_variables`` key).
    template_variables: tuple[str, ...] = ()

    @property
    def monitored_names(self) -> frozenset[str]:
        """Return the normalized names of the monitored packages."""
        return frozenset(package.name for package in self.packages)

    def template_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Return the part of an environment that trigger templates may read."""
        return {name: value for name, value in environ.items() if template_readable(name, self.template_variables)}
