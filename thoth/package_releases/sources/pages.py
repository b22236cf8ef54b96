"""Reading of simple-API pages (PEP 691 JSON, PEP 503 HTML; PEP 700 versions, PEP 592 yanked files): pure, no I/O."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from packaging.version import Version

from thoth.package_releases.clean import clean_text, version_too_long
from thoth.package_releases.distributions import file_version, normalized_version
from thoth.package_releases.distributions import files_by_version as files_by_version
from thoth.package_releases.normalize import normalize_name
from thoth.package_releases.redact import one_line
from thoth.package_releases.sources.documents import ACCEPT as ACCEPT
from thoth.package_releases.sources.documents import JSON_TYPE as JSON_TYPE
from thoth.package_releases.sources.documents import Link, check_content_type, check_meta, html_links
from thoth.package_releases.sources.documents import PageError as PageError
from thoth.package_releases.sources.documents import as_serial as as_serial
from thoth.package_releases.sources.documents import html_serial as html_serial
from thoth.package_releases.sources.listing import INVALID_EXAMPLES as INVALID_EXAMPLES
from thoth.package_releases.sources.listing import MAX_LISTED_NAMES as MAX_LISTED_NAMES
from thoth.package_releases.sources.listing import ProjectListing, read_listing
from thoth.package_releases.values import DistributionFile as DistributionFile
from thoth.package_releases.values import ProjectPage as ProjectPage

_SHA256_FRAGMENT: Final = re.compile(r"sha256=([0-9a-fA-F]{64})")
_SHA256_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_HTML_PIECE: Final = 64 * 1024
_ANCHOR_START: Final = re.compile(rb"<a[\s>]", re.IGNORECASE)

# Bounds of what one page may hold (a page beyond one is a PageError): memory stays proportional to them.
MAX_PAGE_VERSIONS: Final = 100_000
MAX_PAGE_FILES: Final = 100_000
# The longest yank reason kept (PEP 592 puts no bound on it; it travels in events and webhooks).
MAX_YANK_REASON: Final = 200


# Version strings repeat across the projects of one run ("1.0.0", "0.1.0", ...): parse each once.
_version_key = functools.lru_cache(maxsize=16384)(Version)


def parse_project_page(project: str, body: bytes, content_type: str) -> ProjectPage:
    """Return what a project page says, from its body and the response's Content-Type; raise PageError.

    Versions come from the PEP 700 ``versions`` list when the page has one, else from the distribution file names
    (files of other projects and unparsable names are ignored). File URLs are never resolved.
    """
    project = normalize_name(project)
    media_type, charset = check_content_type(content_type)
    if media_type != JSON_TYPE:
        links = _html_links(body, charset, MAX_PAGE_FILES, "files")
        files = tuple(_html_file(text, url, attrs) for text, url, attrs in links)
        valid, invalid = _classify_versions(_versions_from_files(project, files))
        return ProjectPage(project, files, valid, invalid, html_serial(body))
    data = _load_json(body)
    files = _json_files(data)
    raw_versions = data.get("versions")
    if raw_versions is None:
        raw_versions = list(_versions_from_files(project, files))
    elif not isinstance(raw_versions, list) or not all(isinstance(version, str) for version in raw_versions):
        raise PageError('malformed JSON: "versions" is not a list of strings')
    elif len(raw_versions) > MAX_PAGE_VERSIONS:
        raise PageError(f"more than {MAX_PAGE_VERSIONS} versions on the page ({len(raw_versions)})")
    valid, invalid = _classify_versions(raw_versions)
    return ProjectPage(project, files, valid, invalid, as_serial(data["meta"].get("_last-serial")))


def parse_listing(body: bytes, content_type: str, url: str | None = None) -> ProjectListing:
    """Return what an index's root page lists, from its whole body and the response's Content-Type; raise PageError.

    The listing as :func:`listing.read_listing` reads it from a body given in pieces, within MAX_LISTED_NAMES.
    """
    return read_listing((body,), content_type, url, max_names=MAX_LISTED_NAMES)


def _classify_versions(raw_versions: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the unique normalized valid versions (sorted) and the unique raw invalid ones (in page order).

    A version longer than the graph records is invalid too.
    """
    valid: set[str] = set()
    invalid: dict[str, None] = {}
    for raw in raw_versions:
        normalized = None if version_too_long(raw) else normalized_version(raw)
        if normalized is None or version_too_long(normalized):
            invalid[raw] = None
        else:
            valid.add(normalized)
    return tuple(sorted(valid, key=_version_key)), tuple(invalid)


def _versions_from_files(project: str, files: Iterable[DistributionFile]) -> Iterable[str]:
    """Yield the versions in the names of the project's distribution files (other names are skipped)."""
    for file in files:
        version = file_version(project, file.filename)
        if version is not None:
            yield version


def _load_json(body: bytes) -> dict[str, Any]:
    """Return a PEP 691 document as a dict, checking its shape and API version."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PageError(one_line(f"malformed JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise PageError("malformed JSON: the document is not an object")
    check_meta(data.get("meta"))
    return data


def _json_files(data: Mapping[str, Any]) -> tuple[DistributionFile, ...]:
    """Return the files of a PEP 691 project document."""
    entries = data.get("files")
    if not isinstance(entries, list):
        raise PageError('malformed JSON: "files" is not a list')
    if len(entries) > MAX_PAGE_FILES:
        raise PageError(f"more than {MAX_PAGE_FILES} files on the page ({len(entries)})")
    files = []
    for entry in entries:
        filename = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(filename, str):
            raise PageError('malformed JSON: a file without a "filename"')
        hashes = entry.get("hashes")
        sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
        yanked = entry.get("yanked", False)
        files.append(
            DistributionFile(
                filename,
                sha256.lower() if isinstance(sha256, str) and _SHA256_HEX.fullmatch(sha256) else None,
                yanked not in (False, None),
                _yank_reason(yanked),
            )
        )
    return tuple(files)


def _html_file(text: str, url: str, attrs: Mapping[str, object]) -> DistributionFile:
    """Return the file an anchor of a PEP 503 page stands for (``data-yanked``: yanked, its value: the reason)."""
    yanked = attrs.get("data-yanked")
    return DistributionFile(text, _sha256_of(url), yanked is not None, _yank_reason(yanked))


def _yank_reason(value: object) -> str | None:
    """Return the reason of a PEP 592 yank (a JSON ``yanked`` string, a ``data-yanked`` value), cleaned and bounded."""
    if not isinstance(value, str):
        return None
    reason = " ".join(clean_text(value, limit=MAX_YANK_REASON).split())
    return reason or None


def _html_links(body: bytes, charset: str | None, limit: int, what: str) -> Iterator[Link]:
    """Yield (text, href, attributes) of each anchor of a whole PEP 503 page; raise PageError (see html_links)."""
    # Counting the anchor tags first costs no memory: a page beyond the bound is refused before any is kept.
    if next(itertools.islice(_ANCHOR_START.finditer(body), limit, None), None) is not None:
        raise PageError(f"more than {limit} {what} on the page")
    return html_links(
        (body[start : start + _HTML_PIECE] for start in range(0, len(body), _HTML_PIECE)), charset, limit, what
    )


def _sha256_of(url: str) -> str | None:
    """Return the SHA-256 a file URL's fragment names (``#sha256=...``), if any."""
    try:
        fragment = urlsplit(url).fragment
    except ValueError:
        return None
    match = _SHA256_FRAGMENT.fullmatch(fragment)
    return match.group(1).lower() if match else None
