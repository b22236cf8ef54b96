"""Release events from a project page (issue 13): the page compared with what the job saw last time and the graph.

Pure, no I/O. :func:`detect` takes one project's page (None: the index answered ``404``), the snapshot kept from
the previous read, and what the knowledge graph holds (its versions, its artifacts' sha256); it returns the
events, the snapshot to keep, and the versions whose ``is_missing`` flag changes. ``new_release`` events are
made from the rows the chunk inserted (:func:`new_release_events`), as for the feeds.

A snapshot is compact: per release the version, whether it is yanked (and why), a 6-byte digest of each of its
file names, whether it went missing, and a digest of the last hash mismatch reported. Encoded as one short JSON
text per project (:meth:`Snapshot.encode`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Final, NamedTuple

from thoth.package_releases.sources.pages import DistributionFile, ProjectPage, files_by_version
from thoth.package_releases.values import (
    HASH_MISMATCH,
    MISSING_PACKAGE,
    MISSING_VERSION,
    NEW_FILES,
    NEW_RELEASE,
    REAPPEARED,
    UNYANKED,
    YANKED,
    Release,
    ReleaseEvent,
)

# Bytes of a file name's digest: collisions among the files of one release are out of reach (2**-48 per pair).
_FILE_DIGEST_BYTES: Final = 6
_MISMATCH_DIGEST_BYTES: Final = 6
_SHA256: Final = re.compile("[0-9a-f]{64}")
_YANKED_FLAG: Final = 1
_MISSING_FLAG: Final = 2


class ReleaseState(NamedTuple):
    """What the job remembers of one release: yanked (and why), its files' name digests, missing, last mismatch.

    A named tuple rather than a dataclass: one is made per release of every page read, and tuples are made fast.
    """

    yanked: bool = False
    reason: str | None = None
    files: frozenset[bytes] = frozenset()  # the 6-byte digests of the file names
    missing: bool = False  # the version has a graph row and left the page
    reported: str | None = None  # digest of the last hash mismatch reported


@dataclass(frozen=True)
class Snapshot:
    """What the job remembers of one project's page on an index; ``gone``: it answered ``404`` since."""

    releases: Mapping[str, ReleaseState] = field(default_factory=dict)
    gone: bool = False

    def encode(self) -> str:
        """Return the snapshot as compact JSON: ``[gone, [[version, flags, digests, reason?, reported?], ...]]``."""
        rows = []
        for version in sorted(self.releases):
            state = self.releases[version]
            flags = (_YANKED_FLAG if state.yanked else 0) | (_MISSING_FLAG if state.missing else 0)
            digests = base64.urlsafe_b64encode(b"".join(sorted(state.files))).decode()
            row: list[object] = [version, flags, digests, state.reason, state.reported]
            while row[-1] is None:
                row.pop()
            rows.append(row)
        return json.dumps([int(self.gone), rows], separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str | None) -> Snapshot | None:
        """Return the snapshot a text encodes; None when there is none or it cannot be read (a first read again)."""
        if not text:
            return None
        try:
            gone, rows = json.loads(text)
            releases = {}
            for row in rows:
                version, flags, digests = row[0], int(row[1]), base64.urlsafe_b64decode(str(row[2]))
                reason = row[3] if len(row) > 3 else None
                reported = row[4] if len(row) > 4 else None
                size = _FILE_DIGEST_BYTES
                files = frozenset(digests[i : i + size] for i in range(0, len(digests), size))
                releases[str(version)] = ReleaseState(
                    bool(flags & _YANKED_FLAG), reason, files, bool(flags & _MISSING_FLAG), reported
                )
            return cls(releases, bool(gone))
        except (ValueError, TypeError, IndexError):
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


def file_digest(filename: str) -> bytes:
    """Return the short digest that stands for a file name in a snapshot (6 bytes, 8 characters of base64)."""
    return blake2b(filename.encode("utf-8", "surrogatepass"), digest_size=_FILE_DIGEST_BYTES).digest()


def new_release_events(releases: Iterable[Release]) -> list[ReleaseEvent]:
    """Return a ``new_release`` event for each release inserted."""
    return [ReleaseEvent(NEW_RELEASE, r.package_name, r.package_version, r.index_url) for r in releases]


def detect(
    index_url: str, name: str, page: ProjectPage | None, previous: Snapshot | None, graph: GraphView
) -> Detection:
    """Compare a project's page (None: a ``404``) with its previous snapshot and the graph.

    The first read of a project (no snapshot) only records the snapshot: no event, no history flood.
    """
    if page is None:
        return _not_found(index_url, name, previous, graph)
    grouped = files_by_version(page)
    current = {version: _release_state(grouped.get(version, ())) for version in page.versions}
    events: list[ReleaseEvent] = []
    missing: list[str] = []
    reappeared: list[str] = []
    releases: dict[str, ReleaseState] = {}
    for version, state in current.items():
        before = previous.releases.get(version) if previous is not None else None
        if before is not None and previous is not None and not before.missing:
            events += _compared(index_url, name, version, before, state, grouped.get(version, ()))
        elif before is not None and before.missing and version in graph.versions:
            events.append(ReleaseEvent(REAPPEARED, name, version, index_url))
            reappeared.append(version)
        mismatch = _mismatch(grouped.get(version, ()), graph.artifacts.get(version, ()))
        reported = before.reported if before is not None else None
        if mismatch:  # reported once per distinct mismatch; on a first read only remembered
            digest = _mismatch_digest(mismatch)
            if previous is not None and digest != reported:
                events.append(ReleaseEvent(HASH_MISMATCH, name, version, index_url, mismatch))
            reported = digest
        elif mismatch is not None:  # the hashes agree again: a later mismatch is news
            reported = None
        releases[version] = state if reported is None else state._replace(reported=reported)
    for version, before in previous.releases.items() if previous is not None else ():
        if version in current or version not in graph.versions:
            continue
        if not before.missing:
            events.append(ReleaseEvent(MISSING_VERSION, name, version, index_url))
            missing.append(version)
        releases[version] = ReleaseState(missing=True)
    return Detection(tuple(events), Snapshot(releases), tuple(missing), tuple(reappeared))


def _not_found(index_url: str, name: str, previous: Snapshot | None, graph: GraphView) -> Detection:
    """Return what a ``404`` means: ``missing_package`` once for a project found before with graph rows."""
    if previous is None or previous.gone:
        return Detection((), None)
    releases = {version: ReleaseState(missing=True) for version in sorted(graph.versions)}
    if not graph.versions:
        return Detection((), Snapshot(releases, gone=True))
    event = ReleaseEvent(MISSING_PACKAGE, name, None, index_url)
    return Detection((event,), Snapshot(releases, gone=True), tuple(sorted(graph.versions)))


def _release_state(files: Sequence[DistributionFile]) -> ReleaseState:
    """Return the state of a release from its files: yanked when every one is (the first reason given is kept)."""
    yanked = bool(files)
    reason = None
    digests = set()
    for file in files:  # one pass: this runs for every file of every page read
        digests.add(blake2b(file.filename.encode("utf-8", "surrogatepass"), digest_size=_FILE_DIGEST_BYTES).digest())
        if not file.yanked:
            yanked = False
        elif reason is None:
            reason = file.yanked_reason
    return ReleaseState(yanked, reason if yanked else None, frozenset(digests))


def _compared(
    index_url: str,
    name: str,
    version: str,
    before: ReleaseState,
    after: ReleaseState,
    files: Sequence[DistributionFile],
) -> list[ReleaseEvent]:
    """Return the events of a release seen on both reads: yanked, unyanked, new files."""
    events = []
    if after.yanked and not before.yanked:
        events.append(ReleaseEvent(YANKED, name, version, index_url, {"reason": after.reason}))
    elif before.yanked and not after.yanked and after.files:
        events.append(ReleaseEvent(UNYANKED, name, version, index_url))
    added = after.files - before.files
    if added:
        new = sorted(
            {f.filename: _sha256(f) for f in files if file_digest(f.filename) in added}.items(),
        )
        details = {"files": [{"filename": filename, "sha256": sha256} for filename, sha256 in new]}
        events.append(ReleaseEvent(NEW_FILES, name, version, index_url, details))
    return events


def _sha256(file: DistributionFile) -> str | None:
    """Return a file's sha256 as lower-case hex, None when the page gives none (or not a valid one)."""
    if file.sha256 is None:
        return None
    value = file.sha256.lower()
    return value if _SHA256.fullmatch(value) else None


def _mismatch(files: Sequence[DistributionFile], stored: Collection[str]) -> dict[str, list[str]] | None:
    """Return the hashes missing on either side (empty lists: none), or None when there is nothing to compare.

    Nothing to compare: the graph has no artifact for the release, or a file of it on the index has no sha256.
    """
    if not stored or not files:
        return None
    on_index = {_sha256(file) for file in files}
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
    return base64.urlsafe_b64encode(blake2b(text, digest_size=_MISMATCH_DIGEST_BYTES).digest()).decode()
