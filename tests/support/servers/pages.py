"""The synthetic index's model and its pages: projects, their files, PEP 691 JSON and PEP 503 HTML."""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.support.servers.handler import header_block
from tests.support.servers.negotiation import JSON_CONTENT_TYPE

UPLOAD_TIME = "2024-01-01T00:00:00.000000Z"
_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """Return the PEP 503 normalized form of a project name."""
    return _NORMALIZE.sub("-", name).lower()


def synthetic_projects(count: int, versions: int) -> dict[str, list[str]]:
    """Return ``count`` projects ``pkg-00001``... with ``versions`` versions ``1.0.0``, ``1.0.1``... each."""
    shared = [f"1.{v // 10}.{v % 10}" for v in range(versions)]  # one string per version for all projects
    return {f"pkg-{i:05d}": list(shared) for i in range(1, count + 1)}


@dataclass(slots=True)
class Project:
    """A project of the model: its versions with the serial each was published at, its last change."""

    name: str
    versions: dict[str, int]  # version -> serial it was published at, in publication order
    serial: int
    modified: float
    changes: ReleaseChanges | None = None  # what mutations changed; None (no cost) for a project never mutated


@dataclass
class ReleaseChanges:
    """What the mutations (:mod:`.mutations`) changed in a project's releases, against the synthetic files."""

    yanked: dict[str, str | None] = field(default_factory=dict)  # version -> yank reason (None: no reason)
    added: dict[str, list[str]] = field(default_factory=dict)  # version -> file names added, in order
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> the digest that replaced its own
    removed: dict[str, tuple[int, int]] = field(default_factory=dict)  # version removed -> (its serial, position)


@dataclass(frozen=True)
class Page:
    """A rendered page with its ETag and the heads of its 200 and 304 responses (and its gzip form, if any)."""

    body: bytes
    etag: str
    head_200: bytes
    head_304: bytes
    gzip_body: bytes | None = None
    gzip_head_200: bytes = b""


def page_etag(key: str, content_type: str, serial: int, variant: str = "") -> str:
    """The strong ETag of a page at a serial, known without rendering it (every change bumps the serial)."""
    material = f"{key}\0{content_type}\0{serial}\0{variant}".encode()
    return f'"{hashlib.sha1(material, usedforsecurity=False).hexdigest()}"'


def gzip_etag(etag: str) -> str:
    """The ETag of a page's gzip-encoded form (a representation of its own)."""
    return etag[:-1] + '-gzip"'


def validator_head(etag: str, serial: int, modified: float) -> bytes:
    """The validator headers of a page: its ETag, serial and Last-Modified (the whole head of a 304)."""
    return header_block(_validators(etag, serial, modified))


def _validators(etag: str, serial: int, modified: float) -> list[tuple[str, str]]:
    return [
        ("ETag", etag),
        ("X-PyPI-Last-Serial", str(serial)),
        ("Last-Modified", email.utils.formatdate(modified, usegmt=True)),
        ("Vary", "Accept, Accept-Encoding"),
    ]


def file_entries(name: str, version: str) -> list[tuple[str, str, int]]:
    """(filename, sha256, size) of the two files of a release."""
    wheel_name = _NORMALIZE.sub("_", name)
    return [file_entry(f"{name}-{version}.tar.gz"), file_entry(f"{wheel_name}-{version}-py3-none-any.whl")]


def file_entry(filename: str) -> tuple[str, str, int]:
    """(filename, sha256, size) of a synthetic file: the digest is the file name's, the size derives from it."""
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return filename, digest, 1024 + int(digest[:4], 16)


def wheel_filename(name: str, version: str, tag: str) -> str:
    """The file name of a wheel of a release for a platform tag (e.g. ``cp311-cp311-manylinux_2_17_x86_64``)."""
    return f"{_NORMALIZE.sub('_', name)}-{version}-{tag}.whl"


Yanked = bool | str
"""A file's PEP 592 yank as PEP 691 gives it: False, True (no reason) or the reason."""


def release_files(project: Project, version: str) -> list[tuple[str, str, int, Yanked]]:
    """(filename, sha256, size, yanked) of every file of a release, the mutations applied."""
    changes = project.changes
    entries = file_entries(project.name, version)
    if changes is None:
        return [(filename, digest, size, False) for filename, digest, size in entries]
    entries += [file_entry(filename) for filename in changes.added.get(version, ())]
    yanked: Yanked = False
    if version in changes.yanked:
        reason = changes.yanked[version]
        yanked = True if reason is None else reason
    return [(filename, changes.sha256.get(filename, digest), size, yanked) for filename, digest, size in entries]


def _json_file(filename: str, digest: str, size: int, yanked: Yanked = False) -> str:
    # Hand-assembled (json.dumps only for the strings): ~3x faster than dumping a dict per file.
    shown = "false" if yanked is False else json.dumps(yanked)
    return (
        f'{{"filename":{json.dumps(filename)},"url":{json.dumps("../../files/" + filename)},'
        f'"hashes":{{"sha256":"{digest}"}},"requires-python":null,"yanked":{shown},"size":{size},'
        f'"upload-time":"{UPLOAD_TIME}"}}'
    )


def _html_yanked(yanked: Yanked) -> str:
    if yanked is False:
        return ""
    return f' data-yanked="{"" if yanked is True else html.escape(yanked)}"'


def render_project(
    project: Project, content_type: str, *, serial: int, as_of: int | None = None, api_version: str = "1.1"
) -> bytes:
    """A project's page listing the versions published at or before ``as_of`` (None: all)."""
    versions = [v for v, s in project.versions.items() if as_of is None or s <= as_of]
    if content_type == JSON_CONTENT_TYPE:
        files = ",".join(
            _json_file(filename, digest, size, yanked)
            for version in versions
            for filename, digest, size, yanked in release_files(project, version)
        )
        return (
            f'{{"meta":{{"api-version":{json.dumps(api_version)},"_last-serial":"{serial}"}},'
            f'"name":{json.dumps(normalize(project.name))},"versions":{json.dumps(versions)},"files":[{files}]}}'
        ).encode()
    title = html.escape(project.name)
    links = "".join(
        f'<a href="../../files/{html.escape(filename)}#sha256={digest}"{_html_yanked(yanked)}>'
        f"{html.escape(filename)}</a><br/>\n"
        for version in versions
        for filename, digest, _, yanked in release_files(project, version)
    )
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="{api_version}">\n'
        f"<title>Links for {title}</title>\n</head>\n<body>\n<h1>Links for {title}</h1>\n{links}</body>\n</html>\n"
    ).encode()


def render_listing(projects: Iterable[Project], content_type: str, *, serial: int, with_serials: bool) -> bytes:
    """The project listing (``/simple/``), with each project's serial in JSON when asked for."""
    if content_type == JSON_CONTENT_TYPE:
        # Hand-assembled (json.dumps only for the names): a 600,000-project listing in well under a second.
        if with_serials:
            entries = ",".join(f'{{"name":{json.dumps(p.name)},"_last-serial":{p.serial}}}' for p in projects)
        else:
            entries = ",".join(f'{{"name":{json.dumps(p.name)}}}' for p in projects)
        return f'{{"meta":{{"api-version":"1.1","_last-serial":"{serial}"}},"projects":[{entries}]}}'.encode()
    links = "".join(f'<a href="/simple/{normalize(p.name)}/">{html.escape(p.name)}</a><br/>\n' for p in projects)
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta name="pypi:repository-version" content="1.1">\n'
        f"<title>Simple index</title>\n</head>\n<body>\n{links}</body>\n</html>\n"
    ).encode()


def make_page(
    body: bytes,
    content_type: str,
    serial: int,
    modified: float,
    *,
    etag: str | None = None,
    compress: bool = False,
) -> Page:
    """A page with its strong ETag (given, or a digest of the body), serial and Last-Modified headers.

    ``compress`` adds its gzip-encoded form, with an ETag of its own.
    """
    if etag is None:
        digest = hashlib.sha1(body + content_type.encode() + str(serial).encode(), usedforsecurity=False).hexdigest()
        etag = f'"{digest}"'
    common = _validators(etag, serial, modified)
    head_200 = header_block([("Content-Type", content_type), ("Content-Length", str(len(body))), *common])
    if not compress:
        return Page(body, etag, head_200, header_block(common))
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    gzip_head = header_block(
        [
            ("Content-Type", content_type),
            ("Content-Encoding", "gzip"),
            ("Content-Length", str(len(packed))),
            *_validators(gzip_etag(etag), serial, modified),
        ]
    )
    return Page(body, etag, head_200, header_block(common), packed, gzip_head)
