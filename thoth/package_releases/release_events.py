"""Release events from a project page (issue 13): the page compared with what the job saw last time and the graph.

Pure, no I/O. :func:`detect` takes one project's page (None: the index answered ``404``), the snapshot kept from
the previous read, and what the knowledge graph holds (its versions, its artifacts' sha256); it returns the
events, the snapshot to keep, and the versions whose ``is_missing`` flag changes. ``new_release`` events are
made from the rows the chunk inserted (:func:`new_release_events`), as for the feeds.

A snapshot is compact (:class:`Snapshot`): the versions on the page, a 6-byte identity of each file name, the
yanked releases and their reasons, the versions gone missing, and a digest of the last hash mismatch reported
per release. Grouping files by release costs more than the rest, so it is done only where an event may be: a
page with no yanked file, no new file name and no artifact in the graph is compared without it.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Final

from thoth.package_releases.distributions import files_by_version
from thoth.package_releases.values import (
    HASH_MISMATCH,
    MISSING_PACKAGE,
    MISSING_VERSION,
    NEW_FILES,
    NEW_RELEASE,
    REAPPEARED,
    UNYANKED,
    YANKED,
    DistributionFile,
    ProjectPage,
    Release,
    ReleaseEvent,
)

# Bytes of a file's identity: a collision among the files of a project of 10,000 files has a chance of 2**-22.
_DIGEST_BYTES: Final = 6
_ID_BYTES: Final = 6


@dataclass(frozen=True)
class Snapshot:
    """What the job remembers of one project's page on an index.

    ``versions`` on the page; ``files``: the identities of its file names (:func:`file_id`); ``yanked``: version ->
    reason of the releases whose every file is yanked; ``missing``: versions with a graph row that left the page;
    ``reported``: version -> digest of the last hash mismatch reported; ``gone``: the project answered ``404``.
    """

    versions: frozenset[str] = frozenset()
    files: frozenset[int] = frozenset()
    yanked: Mapping[str, str | None] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    reported: Mapping[str, str] = field(default_factory=dict)
    gone: bool = False

    def encode(self) -> str:
        """Return the snapshot as compact JSON: ``[gone, versions, digests, yanked, missing, reported]``."""
        digests = base64.urlsafe_b64encode(b"".join(i.to_bytes(_ID_BYTES, "big") for i in sorted(self.files))).decode()
        document = [
            int(self.gone),
            sorted(self.versions),
            digests,
            dict(sorted(self.yanked.items())),
            sorted(self.missing),
            dict(sorted(self.reported.items())),
        ]
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str | None) -> Snapshot | None:
        """Return the snapshot a text encodes; None when there is none or it cannot be read (a first read again)."""
        if not text:
            return None
        try:
            gone, versions, digests, yanked, missing, reported = json.loads(text)
            raw = base64.urlsafe_b64decode(digests)
            files = frozenset(int.from_bytes(raw[i : i + _ID_BYTES], "big") for i in range(0, len(raw), _ID_BYTES))
            if not isinstance(yanked, dict) or not isinstance(reported, dict):
                return None
            return cls(frozenset(map(str, versions)), files, yanked, frozenset(map(str, missing)), reported, bool(gone))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class GraphView:
    """What the knowledge graph holds of one project on an index, after the chunk's inserts.

    ``versions``: the versions with a row; ``artifacts``: the sha256 of the artifacts of each version that has some.
    """

    versions: Collection[str] = frozenset()
    artifacts: Mapping[str, Collection[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """What one project's page changed: events, the snapshot to keep (None: none to write), ``is_missing`` changes."""

    events: tuple[ReleaseEvent, ...]
    snapshot: Snapshot | None
    missing: tuple[str, ...] = ()  # versions whose is_missing is to be set
    reappeared: tuple[str, ...] = ()  # versions whose is_missing is to be cleared


def file_id(filename: str) -> int:
    """Return what stands for a file name in a snapshot: 48 bits, its CRC-32 and 16 bits of its Adler-32.

    No cryptographic hash: only the files of one project are told apart, and this runs for every file of every
    page read (zlib's checksums cost a third of a blake2b).
    """
    data = filename.encode("utf-8", "surrogatepass")
    return zlib.crc32(data) | (zlib.adler32(data) & 0xFFFF) << 32


def new_release_events(releases: Iterable[Release]) -> list[ReleaseEvent]:
    """Return a ``new_release`` event for each release inserted."""
    return [ReleaseEvent(NEW_RELEASE, r.package_name, r.package_version, r.index_url) for r in releases]


def detect(
    index_url: str, name: str, page: ProjectPage | None, previous: Snapshot | None, graph: GraphView
) -> Detection:
    """Compare a project's page (None: a ``404``) with its previous snapshot and the graph.

    The first read of a project (no snapshot) only records the snapshot: no event, no history flood (a hash
    mismatch already there is remembered as reported).
    """
    if page is None:
        return _not_found(index_url, name, previous, graph)
    on_page = frozenset(page.versions)
    digests = {file_id(file.filename): file for file in page.files}
    first = previous is None or previous.gone
    before = previous if previous is not None else Snapshot()
    added = [file for digest, file in digests.items() if digest not in before.files] if not first else []
    compared = [version for version in graph.artifacts if version in on_page]
    any_yanked = any(file.yanked for file in page.files)
    grouped = files_by_version(page) if (any_yanked or before.yanked or compared) else {}
    yanked = _yanked_releases(page.versions, grouped) if any_yanked else {}
    events: list[ReleaseEvent] = []
    if previous is not None:
        events += _missing_and_back(index_url, name, on_page, before, graph)
    if not first:
        events += _yank_changes(index_url, name, on_page, before, yanked, grouped)
        events += _new_files(index_url, name, page, before, added)
    reported = {v: d for v, d in before.reported.items() if v in on_page}
    for version in compared:
        mismatch = _mismatch(grouped.get(version, ()), graph.artifacts[version])
        if mismatch:  # reported once per distinct mismatch; on a first read only remembered
            digest = _mismatch_digest(mismatch)
            if previous is not None and reported.get(version) != digest:
                events.append(ReleaseEvent(HASH_MISMATCH, name, version, index_url, mismatch))
            reported[version] = digest
        elif mismatch is not None:  # the hashes agree again: a later mismatch is news
            reported.pop(version, None)
    missing = frozenset(v for v in (before.missing | before.versions) - on_page if v in graph.versions)
    snapshot = Snapshot(on_page, frozenset(digests), yanked, missing, reported)
    went = tuple(sorted(e.package_version or "" for e in events if e.kind == MISSING_VERSION))
    back = tuple(sorted(e.package_version or "" for e in events if e.kind == REAPPEARED))
    return Detection(tuple(events), snapshot, went, back)


def _not_found(index_url: str, name: str, previous: Snapshot | None, graph: GraphView) -> Detection:
    """Return what a ``404`` means: ``missing_package`` once for a project found before with graph rows."""
    if previous is None or previous.gone:
        return Detection((), None)
    versions = tuple(sorted(graph.versions))
    snapshot = Snapshot(missing=frozenset(versions), gone=True)
    if not versions:
        return Detection((), snapshot)
    return Detection((ReleaseEvent(MISSING_PACKAGE, name, None, index_url),), snapshot, versions)


def _missing_and_back(
    index_url: str, name: str, on_page: frozenset[str], before: Snapshot, graph: GraphView
) -> list[ReleaseEvent]:
    """Return ``missing_version`` for the versions with a row that left the page, ``reappeared`` for those back."""
    events = [
        ReleaseEvent(MISSING_VERSION, name, version, index_url)
        for version in sorted(before.versions - on_page)
        if version in graph.versions and version not in before.missing
    ]
    events += [
        ReleaseEvent(REAPPEARED, name, version, index_url)
        for version in sorted(before.missing & on_page)
        if version in graph.versions
    ]
    return events


def _yanked_releases(
    versions: Sequence[str], grouped: Mapping[str, Sequence[DistributionFile]]
) -> dict[str, str | None]:
    """Return version -> reason of the releases whose every file is yanked (the first reason given is kept)."""
    yanked: dict[str, str | None] = {}
    for version in versions:
        files = grouped.get(version)
        if files and all(file.yanked for file in files):
            yanked[version] = next((file.yanked_reason for file in files if file.yanked_reason), None)
    return yanked


def _yank_changes(
    index_url: str,
    name: str,
    on_page: frozenset[str],
    before: Snapshot,
    yanked: Mapping[str, str | None],
    grouped: Mapping[str, Sequence[DistributionFile]],
) -> list[ReleaseEvent]:
    """Return ``yanked`` and ``unyanked`` for the releases seen on both reads whose yank changed."""
    events = []
    for version in sorted(on_page & before.versions):
        if version in yanked and version not in before.yanked:
            events.append(ReleaseEvent(YANKED, name, version, index_url, {"reason": yanked[version]}))
        elif version in before.yanked and version not in yanked and grouped.get(version):
            events.append(ReleaseEvent(UNYANKED, name, version, index_url))
    return events


def _new_files(
    index_url: str, name: str, page: ProjectPage, before: Snapshot, added: Sequence[DistributionFile]
) -> list[ReleaseEvent]:
    """Return ``new_files`` for each release seen on both reads that gained files, with their name and sha256."""
    if not added:
        return []
    events = []
    for version, files in sorted(files_by_version(page, added).items()):
        if version in before.versions and version in page.versions:
            listed = sorted({file.filename: file.sha256 for file in files}.items())
            details = {"files": [{"filename": filename, "sha256": sha256} for filename, sha256 in listed]}
            events.append(ReleaseEvent(NEW_FILES, name, version, index_url, details))
    return events


def _mismatch(files: Sequence[DistributionFile], stored: Collection[str]) -> dict[str, list[str]] | None:
    """Return the hashes missing on either side (empty: none), or None when there is nothing to compare.

    Nothing to compare: the graph has no artifact for the release, or a file of it on the index has no sha256.
    """
    if not stored or not files:
        return None
    on_index = {file.sha256 for file in files}
    if None in on_index:
        return None
    in_graph = {value.lower() for value in stored}
    missing_on_index = sorted(in_graph - on_index)
    missing_in_graph = sorted(h for h in on_index - in_graph if h is not None)
    if not missing_on_index and not missing_in_graph:
        return {}
    return {"missing_on_index": missing_on_index, "missing_in_graph": missing_in_graph}


def _mismatch_digest(mismatch: Mapping[str, list[str]]) -> str:
    """Return the short digest that remembers a reported mismatch."""
    text = json.dumps(mismatch, sort_keys=True).encode()
    return base64.urlsafe_b64encode(blake2b(text, digest_size=_DIGEST_BYTES).digest()).decode()
