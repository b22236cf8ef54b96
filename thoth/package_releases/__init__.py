"""Thoth's package-releases job: find new Python package releases and record them in the knowledge graph."""

import importlib.metadata

__version__ = "0.1.0"


def distribution_version(name: str) -> str | None:
    """Return the installed version of a distribution (thoth-storages, say), or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
