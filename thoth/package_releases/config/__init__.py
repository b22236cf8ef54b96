"""The job's configuration (``thoth.yaml``, from a local path or an http(s) URL): model, loading and validation.

``model`` holds the frozen dataclasses, ``load`` reads a path or URL and parses the YAML, ``parse`` turns the
document into the model, ``checks`` validates single values; any problem is a :class:`ConfigError`.
"""

from thoth.package_releases.config.load import load_config
from thoth.package_releases.config.model import (
    DEFAULT_CONFIG,
    INDEX_SETTINGS,
    TRIGGER_METHODS,
    Config,
    ConfigError,
    FeedConfig,
    IndexConfig,
    PackageConfig,
    TriggerConfig,
)
from thoth.package_releases.config.parse import parse_config

__all__ = [
    "DEFAULT_CONFIG",
    "INDEX_SETTINGS",
    "TRIGGER_METHODS",
    "Config",
    "ConfigError",
    "FeedConfig",
    "IndexConfig",
    "PackageConfig",
    "TriggerConfig",
    "load_config",
    "parse_config",
]
