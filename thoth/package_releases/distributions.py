"""Which release a distribution file belongs to, from its name (wheels, sdists, other formats): pure, no I/O."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Final

from pypi_simple import UnparsableFilenameError, parse_filename

from thoth.package_releases.clean import MAX_VERSION_LENGTH
from thoth.package_releases.normalize import normalize_name, normalize_version
from thoth.package_releases.values import DistributionFile, ProjectPage

# Version strings repeat across the projects of one run ("1.0.0", "0.1.0", ...): parse each once.
normalized_version = functools.lru_cache(maxsize=16384)(normalize_version)
_normalized_name = functools.lru_cache(maxsize=4096)(normalize_name)
_SDIST_EXTENSIONS: Final = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def file_version(project: str, filename: str) -> str | None:
    """Return the (raw) version in the name of a distribution file of ``project`` (normalized), else None."""
    # Wheels and sdists, nearly every file, are read without pypi-simple's general (and slower) parser.
    if filename.endswith(".whl"):
        parts = filename.split("-")
        if 5 <= len(parts) <= 6 and (parts[0] == project or _normalized_name(parts[0]) == project):
            return parts[1]
    elif filename.endswith(_SDIST_EXTENSIONS):
        stem = filename[: -len(next(ext for ext in _SDIST_EXTENSIONS if filename.endswith(ext)))]
        name, _, version = stem.rpartition("-")
        if version and (name == project or _normalized_name(name) == project):
            return version
    try:
        name, version, _ = parse_filename(filename, project)
    except UnparsableFilenameError:
        return None
    # Like pip, a file named for another project is no release of this one.
    return version if version is not None and normalize_name(name) == project else None


def files_by_version(
    page: ProjectPage, files: Iterable[DistributionFile] | None = None
) -> dict[str, list[DistributionFile]]:
    """Return the files of a project page (or those given of it) by the (normalized) version their names carry.

    Files named for another project, unparsable names and invalid versions are left out, as pip leaves them.
    """
    grouped: dict[str, list[DistributionFile]] = {}
    project = page.name
    for file in page.files if files is None else files:
        raw = file_version(project, file.filename)
        if raw is None or len(raw) > MAX_VERSION_LENGTH:
            continue
        version = normalized_version(raw)
        if version is not None:
            grouped.setdefault(version, []).append(file)
    return grouped
