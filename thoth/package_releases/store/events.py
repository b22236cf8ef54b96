"""Release events of one recorded chunk (issue 13): the reads they need, then the pure detection, per project.

Two reads per chunk, only for the pages answered ``200`` (and the projects answering ``404``): the snapshots
kept, then the artifact hashes of the projects read before. A chunk of ``304`` answers reads nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from thoth.package_releases.release_events import GraphView, Snapshot, detect
from thoth.package_releases.store.connection import Cursor
from thoth.package_releases.store.graph import KnowledgeGraph
from thoth.package_releases.store.state import JobState
from thoth.package_releases.values import IndexRow, ProjectPage, ReleaseEvent


@dataclass(frozen=True)
class ChunkDetection:
    """What the pages of a chunk changed: events, the snapshots to keep (encoded), ``is_missing`` flags to write."""

    events: tuple[ReleaseEvent, ...] = ()
    snapshots: Mapping[str, str] | None = None
    flags: tuple[tuple[str, str, bool], ...] = ()  # (name, version, is_missing)


def detect_chunk(
    cursor: Cursor,
    graph: KnowledgeGraph,
    state: JobState,
    index: IndexRow,
    pages: Mapping[str, ProjectPage],
    not_found: Collection[str],
    versions: Mapping[str, Collection[str]],
) -> ChunkDetection:
    """Compare the pages read (and the projects answering ``404``) of a chunk with their snapshots and the graph.

    ``versions`` are the graph's versions of each project on the index, the chunk's inserts included. Only
    snapshots that changed are returned for writing: a chunk whose pages did not change writes nothing.
    """
    if index.id is None or not (pages or not_found):
        return ChunkDetection()
    names = sorted(set(pages) | set(not_found))
    kept = state.snapshots_in(cursor, index.url, names)
    previous = {name: Snapshot.decode(text) for name, text in kept.items()}
    # Artifacts matter only for projects read before (a first read reports nothing) that have graph rows.
    compared = [name for name in pages if previous.get(name) is not None and versions.get(name)]
    hashes = graph.artifact_hashes_in(cursor, index.id, compared) if compared else {}
    events: list[ReleaseEvent] = []
    snapshots: dict[str, str] = {}
    flags: list[tuple[str, str, bool]] = []
    for name in names:
        view = GraphView(frozenset(versions.get(name, ())), hashes.get(name, {}))
        detection = detect(index.url, name, pages.get(name), previous.get(name), view)
        events += detection.events
        flags += [(name, version, True) for version in detection.missing]
        flags += [(name, version, False) for version in detection.reappeared]
        if detection.snapshot is not None and detection.snapshot != previous.get(name):
            snapshots[name] = detection.snapshot.encode()
    return ChunkDetection(tuple(events), snapshots, tuple(flags))
