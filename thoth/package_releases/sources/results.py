"""What fetching from an index gives back (per project, the listing), and the validators making it conditional."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from thoth.package_releases.sources.documents import as_serial
from thoth.package_releases.sources.pages import ProjectPage
from thoth.package_releases.values import PageValidators


class FetchStatus(enum.Enum):
    """Outcome of fetching one page."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    NOT_FOUND = "not_found"
    STALE = "stale"
    FAILED = "failed"


@dataclass(frozen=True)
class ProjectResult:
    """The versions of one project on one index, or why they could not be had.

    ``validators`` are the new ones for OK, the ones passed in (serial possibly raised) for NOT_MODIFIED,
    the ones passed in, unchanged, for STALE and FAILED, and empty for NOT_FOUND. ``page`` is the page read
    (OK only).
    """

    project: str
    status: FetchStatus
    versions: tuple[str, ...] = ()
    invalid_versions: tuple[str, ...] = ()
    validators: PageValidators = PageValidators()
    error: str | None = None
    page: ProjectPage | None = None


@dataclass(frozen=True)
class ListingResult:
    """The projects an index lists (status OK, NOT_MODIFIED or FAILED); listed names that are invalid are skipped.

    ``invalid_names`` counts them; ``invalid_examples`` shows the first few (quoted, control characters escaped).
    """

    status: FetchStatus
    projects: Sequence[str] = ()  # compact (sources/listed.py): PyPI lists some 600,000
    serials: Mapping[str, int] | None = None
    validators: PageValidators = PageValidators()
    error: str | None = None
    invalid_names: int = 0
    invalid_examples: tuple[str, ...] = ()


def conditional_headers(validators: PageValidators) -> dict[str, str]:
    """Return the request headers that make a request conditional on the validators."""
    headers: dict[str, str] = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def not_modified_validators(old: PageValidators, headers: Mapping[str, str]) -> PageValidators:
    """Return the validators to keep after a 304: the old ones, with a newer serial if the 304 has one."""
    serial = as_serial(headers.get("X-PyPI-Last-Serial"))
    if serial is None or (old.serial is not None and serial <= old.serial):
        return old
    return PageValidators(etag=old.etag, last_modified=old.last_modified, serial=serial)


def is_stale(serial: int | None, recorded: int | None) -> bool:
    """Return whether a page's serial is older than the one recorded."""
    return serial is not None and recorded is not None and serial < recorded
