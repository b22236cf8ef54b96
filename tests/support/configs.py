"""Look-ups into a loaded configuration that only the tests need."""

from __future__ import annotations

from thoth.package_releases.config import Config, PackageConfig
from thoth.package_releases.normalize import normalize_name


def package_named(config: Config, name: str) -> PackageConfig | None:
    """Return the monitored package with this name (compared after PEP 503 normalization), if any."""
    wanted = normalize_name(name)
    return next((package for package in config.packages if package.name == wanted), None)
