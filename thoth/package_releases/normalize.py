"""Normalization of package names, versions and index URLs, exactly as thoth-storages stores them."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PYPI_SIMPLE_URL = "https://pypi.org/simple"
_LEGACY_PYPI_SIMPLE_URLS = frozenset({"https://pypi.python.org/simple"})
# PEP 508 project names.
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", re.ASCII)


def is_project_name(name: str) -> bool:
    """Return whether a string is a valid PEP 508 project name (letters, digits, '.', '_', '-', alphanumeric ends)."""
    return _PROJECT_NAME.fullmatch(name) is not None


def normalize_name(name: str) -> str:
    """Return the PEP 503 normalized form of a project name (thoth-python's normalization)."""
    return str(canonicalize_name(name))


def normalize_version(version: str) -> str | None:
    """Return the PEP 440 normalized form of a version, or None when it is not a valid PEP 440 version.

    For valid versions this equals thoth-storages' ``str(parse_version(version))``; legacy versions,
    which thoth-storages would store verbatim, are rejected here so that they can be reported.
    """
    try:
        return str(Version(version.strip()))
    except InvalidVersion:
        return None


def normalize_index_url(url: str) -> str:
    """Return an index URL in the form thoth-storages records it (no trailing slash, pypi.org for PyPI)."""
    url = url.strip().rstrip("/")
    if url in _LEGACY_PYPI_SIMPLE_URLS:
        return PYPI_SIMPLE_URL
    return url
