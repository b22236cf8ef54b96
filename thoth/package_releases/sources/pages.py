"""Reading of simple-API pages (PEP 691 JSON, PEP 503 HTML; PEP 700 versions, PEP 592 yanked files): pure, no I/O."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit

from packaging.version import Version
from pypi_simple import UnparsableFilenameError, UnsupportedRepoVersionError, parse_filename, parse_links_stream

from thoth.package_releases.clean import (
    MAX_VERSION_LENGTH,
    clean_serial,
    clean_text,
    is_valid_name,
    shown,
    version_too_long,
)
from thoth.package_releases.normalize import normalize_name, normalize_version
from thoth.package_releases.redact import one_line

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
ACCEPT: Final = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"

_HTML_TYPES: Final = frozenset({"application/vnd.pypi.simple.v1+html", "text/html"})
_SUPPORTED_API_MAJOR: Final = 1
_CONTROL_CHARACTERS: Final = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HTML_MARKERS: Final = re.compile(rb"<\s*(?:a\s|!doctype\s+html|html|body|head)", re.IGNORECASE)
# PyPI ends its HTML pages with this comment; it is the only place an HTML page carries the serial.
_HTML_SERIAL: Final = re.compile(rb"<!--\s*SERIAL\s+(\d+)\s*-->")
_SHA256_FRAGMENT: Final = re.compile(r"sha256=([0-9a-fA-F]{64})")
_SHA256_HEX: Final = re.compile(r"[0-9a-fA-F]{64}")
_MAX_SERIAL_DIGITS: Final = 19  # 2**63 - 1 has 19 digits
_HTML_PIECE: Final = 64 * 1024
_ANCHOR_START: Final = re.compile(rb"<a[\s>]", re.IGNORECASE)

# Bounds of what one page may hold (a page beyond one is a PageError): memory stays proportional to them.
MAX_PAGE_VERSIONS: Final = 100_000
MAX_PAGE_FILES: Final = 100_000
MAX_LISTED_NAMES: Final = 5_000_000
# How many invalid listed names a listing's report shows.
INVALID_EXAMPLES: Final = 5
# The longest yank reason kept (PEP 592 puts no bound on it; it travels in events and webhooks).
MAX_YANK_REASON: Final = 200


@dataclass(frozen=True, slots=True)
class DistributionFile:
    """One file a project page lists: its name, its SHA-256, whether it is yanked and why.

    ``sha256`` is lower-case hex, None when the page gives no valid one. ``yanked_reason`` is the PEP 592 reason
    (cleaned, at most :data:`MAX_YANK_REASON` characters), None when the file is not yanked or the page gives none.
    """

    filename: str
    sha256: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None


@dataclass(frozen=True)
class ProjectPage:
    """A project page: the files it lists, the valid (normalized, sorted) and invalid (raw) versions, the serial."""

    name: str
    files: tuple[DistributionFile, ...]
    versions: tuple[str, ...]
    invalid_versions: tuple[str, ...]
    serial: int | None


@dataclass(frozen=True)
class ProjectListing:
    """An index's root page: the normalized project names, their serials (JSON, when all have one), the serial.

    Names that are not PEP 508 project names (or are too long to be recorded) are skipped and counted.
    """

    names: tuple[str, ...]
    serials: Mapping[str, int] | None
    serial: int | None
    invalid_names: int = 0  # listed names that are no valid project names (skipped)
    invalid_examples: tuple[str, ...] = ()  # the first few of them, as a report shows them


# An anchor of an HTML page: its text, its href (not resolved), its attributes.
_Link = tuple[str, str, Mapping[str, object]]


class PageError(ValueError):
    """A simple-API page whose content cannot be understood (or is beyond a bound); the message is one line."""


class _ListedNames:
    """The names of a listing as they are read: valid ones kept (normalized, once), the others counted."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self.invalid = 0
        self.examples: list[str] = []

    def add(self, raw: str) -> str | None:
        """Keep a listed name; return its normalized form, or None when it is no valid project name."""
        name = raw.strip()
        if not is_valid_name(name):
            self.invalid += 1
            if len(self.examples) < INVALID_EXAMPLES:
                self.examples.append(shown(raw))
            return None
        normalized = normalize_name(name)
        self.names[normalized] = None
        return normalized

    def listing(self, serials: Mapping[str, int] | None, serial: int | None) -> ProjectListing:
        """Return the listing of the names kept, with the serials given and the count of the others."""
        return ProjectListing(tuple(self.names), serials, serial, self.invalid, tuple(self.examples))


# Version strings repeat across the projects of one run ("1.0.0", "0.1.0", ...): parse each once.
_normalized_version = functools.lru_cache(maxsize=16384)(normalize_version)
_version_key = functools.lru_cache(maxsize=16384)(Version)
_normalized_name = functools.lru_cache(maxsize=4096)(normalize_name)
_SDIST_EXTENSIONS: Final = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def parse_project_page(project: str, body: bytes, content_type: str) -> ProjectPage:
    """Return what a project page says, from its body and the response's Content-Type; raise PageError.

    Versions come from the PEP 700 ``versions`` list when the page has one, else from the distribution file names
    (files of other projects and unparsable names are ignored). File URLs are never resolved.
    """
    project = normalize_name(project)
    media_type, charset = _check_content_type(content_type)
    if media_type != JSON_TYPE:
        links = _html_links(body, charset, MAX_PAGE_FILES, "files")
        files = tuple(_html_file(text, url, attrs) for text, url, attrs in links)
        valid, invalid = _classify_versions(_versions_from_files(project, files))
        return ProjectPage(project, files, valid, invalid, _html_serial(body))
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
    """Return what an index's root page lists, from its body and the response's Content-Type; raise PageError.

    Serials are given only when every JSON project entry carries a ``_last-serial``. With the page's ``url``,
    an HTML page whose links are mostly not to project pages below it (a welcome page, say) is refused.
    """
    media_type, charset = _check_content_type(content_type)
    listed = _ListedNames()
    if media_type != JSON_TYPE:
        links: list[_Link] = list(_html_links(body, charset, MAX_LISTED_NAMES, "projects"))
        if url is not None:
            links = _project_links(links, url)
        for text, _, _ in links:
            if text.strip("/ "):
                listed.add(text.strip().rstrip("/"))  # a directory listing's "name/" names a project too
        return listed.listing(None, _html_serial(body))
    data = _load_json(body)
    entries = data.get("projects")
    if not isinstance(entries, list):
        raise PageError('malformed JSON: "projects" is not a list')
    if len(entries) > MAX_LISTED_NAMES:
        raise PageError(f"more than {MAX_LISTED_NAMES} projects in the listing ({len(entries)})")
    serials: dict[str, int] | None = {}
    for entry in entries:
        raw_name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(raw_name, str):
            raise PageError('malformed JSON: a project without a "name"')
        name = listed.add(raw_name)
        if name is None:
            continue
        if serials is not None:
            serial = as_serial(entry.get("_last-serial"))
            if serial is None:
                serials = None
            else:
                serials[name] = max(serial, serials.get(name, serial))
    return listed.listing(serials, as_serial(data["meta"].get("_last-serial")))


def as_serial(value: object) -> int | None:
    """Return an index serial given as int or decimal string, else None (also when it does not fit a bigint)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return clean_serial(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= _MAX_SERIAL_DIGITS:
            return clean_serial(int(text))
    return None


def _media_type(content_type: str) -> tuple[str, str | None]:
    """Return the lower-cased media type and the charset parameter of a Content-Type value."""
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def _check_content_type(content_type: str) -> tuple[str, str | None]:
    """Return media type and charset of a simple-API page, or raise PageError for any other type."""
    media_type, charset = _media_type(content_type)
    if media_type != JSON_TYPE and media_type not in _HTML_TYPES:
        raise PageError(one_line(f"unexpected content type {content_type!r}"))
    return media_type, charset


def _classify_versions(raw_versions: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the unique normalized valid versions (sorted) and the unique raw invalid ones (in page order).

    A version longer than the graph records is invalid too.
    """
    valid: set[str] = set()
    invalid: dict[str, None] = {}
    for raw in raw_versions:
        normalized = None if version_too_long(raw) else _normalized_version(raw)
        if normalized is None or version_too_long(normalized):
            invalid[raw] = None
        else:
            valid.add(normalized)
    return tuple(sorted(valid, key=_version_key)), tuple(invalid)


def _versions_from_files(project: str, files: Iterable[DistributionFile]) -> Iterable[str]:
    """Yield the versions in the names of the project's distribution files (other names are skipped)."""
    for file in files:
        version = _file_version(project, file.filename)
        if version is not None:
            yield version


def _file_version(project: str, filename: str) -> str | None:
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


def _load_json(body: bytes) -> dict[str, Any]:
    """Return a PEP 691 document as a dict, checking its shape and API version."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PageError(one_line(f"malformed JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise PageError("malformed JSON: the document is not an object")
    meta = data.get("meta")
    if not isinstance(meta, dict):
        raise PageError('malformed JSON: no "meta" object')
    api_version = meta.get("api-version")
    if not isinstance(api_version, str):
        raise PageError('malformed JSON: no "meta.api-version"')
    try:
        major = Version(api_version).release[0]
    except ValueError:
        raise PageError(one_line(f"malformed JSON: invalid api-version {api_version!r}")) from None
    if major > _SUPPORTED_API_MAJOR:
        raise PageError(one_line(f"unsupported repository version {api_version}"))
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


def files_by_version(
    page: ProjectPage, files: Iterable[DistributionFile] | None = None
) -> dict[str, list[DistributionFile]]:
    """Return the files of a project page (or those given of it) by the (normalized) version their names carry.

    Files named for another project, unparsable names and invalid versions are left out, as pip leaves them.
    """
    grouped: dict[str, list[DistributionFile]] = {}
    project = page.name
    for file in page.files if files is None else files:
        raw = _file_version(project, file.filename)
        if raw is None or len(raw) > MAX_VERSION_LENGTH:
            continue
        version = _normalized_version(raw)
        if version is not None:
            grouped.setdefault(version, []).append(file)
    return grouped


def _html_links(body: bytes, charset: str | None, limit: int, what: str) -> Iterator[_Link]:
    """Yield (text, href, attributes) of each anchor of a PEP 503 page; raise PageError for what is no HTML page.

    An HTML parser accepts nearly anything, so a garbled body would pass for a project with no files and
    its releases would be lost silently: control characters (which HTML forbids) and a body with neither
    an anchor nor any HTML structure are refused instead. More than ``limit`` anchors (``what`` they are,
    for the message) is a PageError too, raised as soon as the parser gets there.
    """
    if _CONTROL_CHARACTERS.search(body):
        raise PageError("malformed HTML: control characters in the page")
    if not _HTML_MARKERS.search(body[:65536]):
        raise PageError("malformed HTML: no anchors and no HTML structure")
    # Counting the anchor tags first costs no memory: a page beyond the bound is refused before any is kept.
    if next(itertools.islice(_ANCHOR_START.finditer(body), limit, None), None) is not None:
        raise PageError(f"more than {limit} {what} on the page")
    # Fed in pieces, pypi-simple's streaming parser (about twice as fast as its BeautifulSoup one) yields the
    # anchors as it reads, instead of holding every one of a huge page at once; hrefs are not resolved.
    pieces = (body[start : start + _HTML_PIECE] for start in range(0, len(body), _HTML_PIECE))
    try:
        for count, link in enumerate(parse_links_stream(pieces, http_charset=charset), start=1):
            if count > limit:
                raise PageError(f"more than {limit} {what} on the page")
            yield link.text, link.url, link.attrs
    except (UnsupportedRepoVersionError, LookupError, ValueError) as exc:
        if isinstance(exc, PageError):
            raise
        raise PageError(one_line(f"malformed HTML: {exc}")) from None


def _project_links(links: Sequence[_Link], url: str) -> list[_Link]:
    """Return a listing's links but navigation; raise PageError unless at least half of them lead to project pages.

    A PEP 503 listing has one anchor per project, whose text is the name and whose target is the project's
    page below the listing (``name/``, ``/simple/name/``, ``name/index.html``). Links to the listing itself or
    above it (parent folder, sort orders) are navigation.
    """
    base = url if url.endswith("/") else url + "/"
    listing = urlsplit(base)
    kept: list[_Link] = []
    projects = 0
    for link in links:
        text, href, _ = link
        try:
            target = urlsplit(urljoin(base, href))
        except ValueError:
            kept.append(link)
            continue
        same_origin = (target.scheme, target.netloc) == (listing.scheme, listing.netloc)
        if same_origin and listing.path.startswith(target.path):
            continue  # the listing itself, a parent folder, or a query of the listing
        kept.append(link)
        segments = [segment for segment in target.path.split("/") if segment]
        if segments and segments[-1].lower() in ("index.html", "index.htm"):
            segments.pop()
        below = same_origin and target.path.startswith(listing.path)
        name = text.strip().rstrip("/")
        if below and segments and name and normalize_name(unquote(segments[-1])) == normalize_name(name):
            projects += 1
    if projects * 2 < len(kept):
        raise PageError(f"not a simple-API project listing: {projects} of {len(kept)} links lead to project pages")
    return kept


def _sha256_of(url: str) -> str | None:
    """Return the SHA-256 a file URL's fragment names (``#sha256=...``), if any."""
    try:
        fragment = urlsplit(url).fragment
    except ValueError:
        return None
    match = _SHA256_FRAGMENT.fullmatch(fragment)
    return match.group(1).lower() if match else None


def _html_serial(body: bytes) -> int | None:
    match = _HTML_SERIAL.search(body)
    return as_serial(match.group(1).decode("ascii")) if match else None
