"""Release events against a real PostgreSQL (issue 13): page snapshots, is_missing, artifact hashes, dry runs."""

from __future__ import annotations

import pytest

from tests.support.graph import STATE, KnowledgeGraph
from tests.support.store import INDEX, registered_index
from thoth.package_releases.release_events import Snapshot
from thoth.package_releases.sources.pages import DistributionFile, ProjectPage
from thoth.package_releases.store import Store
from thoth.package_releases.values import IndexRow, PageValidators

pytestmark = pytest.mark.integration

A, B, C = "a" * 64, "b" * 64, "c" * 64


def page(name: str, *files: DistributionFile) -> ProjectPage:
    versions = tuple(sorted({f.filename.split("-")[1].removesuffix(".tar.gz") for f in files}))
    return ProjectPage(name, tuple(files), versions, (), None)


def sdist(name: str, version: str, sha256: str | None = None, *, yanked: bool = False) -> DistributionFile:
    return DistributionFile(f"{name}-{version}.tar.gz", sha256, yanked)


def read(store: Store, index: IndexRow, *pages: ProjectPage, dry_run: bool = False) -> None:
    """Record pages answered 200, as the scan does: versions found, validators, the pages themselves."""
    store.record(
        index,
        {p.name: p.versions for p in pages},
        {p.name: PageValidators(etag=f'"{len(p.files)}"') for p in pages},
        read={p.name: p for p in pages},
        dry_run=dry_run,
    )


def snapshots(graph: KnowledgeGraph) -> dict[str, Snapshot | None]:
    return {
        name: Snapshot.decode(text)
        for name, text in graph.query(f"SELECT project, releases FROM {STATE}.page_snapshot")
    }


def add_solved_version(graph: KnowledgeGraph, name: str, version: str, index_id: int, python: str = "3.11") -> None:
    """A python_package_version row, as a solver writes it (one per environment)."""
    ((entity,),) = graph.query(
        "SELECT id FROM python_package_version_entity WHERE package_name = %s AND package_version = %s"
        " AND python_package_index_id = %s",
        (name, version, index_id),
    )
    graph.execute(
        "INSERT INTO python_package_version (package_name, package_version, os_name, os_version, python_version,"
        " entity_id, python_package_index_id, is_missing, provides_source_distro)"
        " VALUES (%s, %s, 'rhel', '9', %s, %s, %s, false, true)",
        (name, version, python, entity, index_id),
    )


def add_artifact(graph: KnowledgeGraph, name: str, version: str, index_id: int, sha256: str) -> None:
    """A python_artifact of a version entity through has_artifact, as package-extract writes it."""
    ((artifact,),) = graph.query(
        "INSERT INTO python_artifact (artifact_hash_sha256, artifact_name, present) VALUES (%s, %s, true) RETURNING id",
        (sha256, f"{name}-{version}.tar.gz"),
    )
    graph.execute(
        "INSERT INTO has_artifact (python_package_version_entity_id, python_artifact_id)"
        " SELECT id, %s FROM python_package_version_entity WHERE package_name = %s AND package_version = %s"
        " AND python_package_index_id = %s",
        (artifact, name, version, index_id),
    )


def is_missing(graph: KnowledgeGraph, name: str) -> list[tuple[str, str, bool]]:
    return graph.query(
        "SELECT package_version, python_version, is_missing FROM python_package_version WHERE package_name = %s"
        " ORDER BY 1, 2",
        (name,),
    )


def test_a_first_read_keeps_a_snapshot_per_project(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)

    read(store, index, page("foo", sdist("foo", "1.0", A), sdist("foo", "2.0", B, yanked=True)), page("bar"))

    kept = snapshots(graph)
    assert set(kept) == {"foo", "bar"}
    foo = kept["foo"]
    assert foo is not None
    assert foo.versions == {"1.0", "2.0"}
    assert foo.yanked == {"2.0": None}


def test_an_unchanged_page_writes_no_snapshot(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    foo = page("foo", sdist("foo", "1.0", A))
    read(store, index, foo)
    ((before,),) = graph.query(f"SELECT xmin::text FROM {STATE}.page_snapshot")

    read(store, index, foo)

    ((after,),) = graph.query(f"SELECT xmin::text FROM {STATE}.page_snapshot")
    assert after == before  # the row was not rewritten


def test_is_missing_is_set_for_a_missing_version_and_cleared_when_it_is_back(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    assert index.id is not None
    both = page("foo", sdist("foo", "1.0"), sdist("foo", "2.0"))
    read(store, index, both)
    for python in ("3.11", "3.12"):
        add_solved_version(graph, "foo", "1.0", index.id, python)
    add_solved_version(graph, "foo", "2.0", index.id)

    read(store, index, page("foo", sdist("foo", "2.0")))
    assert is_missing(graph, "foo") == [("1.0", "3.11", True), ("1.0", "3.12", True), ("2.0", "3.11", False)]

    read(store, index, both)
    assert is_missing(graph, "foo") == [("1.0", "3.11", False), ("1.0", "3.12", False), ("2.0", "3.11", False)]
    assert graph.count("python_package_version") == 3  # no row is created
    assert graph.count("python_artifact") == 0


def test_a_404_of_a_project_read_before_marks_its_versions_missing(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    assert index.id is not None
    read(store, index, page("foo", sdist("foo", "1.0")))
    add_solved_version(graph, "foo", "1.0", index.id)

    store.record(index, {}, {}, not_found=["foo", "never-seen"])

    assert is_missing(graph, "foo") == [("1.0", "3.11", True)]
    kept = snapshots(graph)
    assert set(kept) == {"foo"}  # a 404 of a project never read keeps nothing
    gone = kept["foo"]
    assert gone is not None
    assert gone.gone
    assert store.state.page_validators(INDEX, ["foo"]) == {}  # forgotten: not requested again for its listing


def test_artifact_hashes_are_read_for_a_chunk_as_thoth_storages_reads_them(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    other = registered_index(store, "https://other.example/simple")
    assert index.id is not None
    assert other.id is not None
    read(store, index, page("foo", sdist("foo", "1.0"), sdist("foo", "2.0")), page("bar", sdist("bar", "1.0")))
    read(store, other, page("foo", sdist("foo", "1.0")))
    add_artifact(graph, "foo", "1.0", index.id, A)
    add_artifact(graph, "foo", "1.0", index.id, B)
    add_artifact(graph, "bar", "1.0", index.id, C)
    add_artifact(graph, "foo", "1.0", other.id, C)

    with store._conn.read_only() as cursor:  # the cursor-level read under test, on the store's connection
        hashes = store.graph.artifact_hashes_in(cursor, index.id, ["foo", "baz"])

    assert {name: dict(versions) for name, versions in hashes.items()} == {"foo": {"1.0": {A, B}}}


def test_a_hash_mismatch_is_remembered_in_the_snapshot_once_reported(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    assert index.id is not None
    read(store, index, page("foo", sdist("foo", "1.0", A)))
    add_artifact(graph, "foo", "1.0", index.id, A)
    read(store, index, page("foo", sdist("foo", "1.0", A)))
    kept = snapshots(graph)["foo"]
    assert kept is not None
    assert kept.reported == {}  # the hashes agree

    read(store, index, page("foo", sdist("foo", "1.0", B)))

    changed = snapshots(graph)["foo"]
    assert changed is not None
    assert set(changed.reported) == {"1.0"}


def test_a_dry_run_writes_no_snapshot_and_no_flag(store: Store, database_url: str) -> None:
    graph = KnowledgeGraph(database_url)
    index = registered_index(store)
    assert index.id is not None
    read(store, index, page("foo", sdist("foo", "1.0"), sdist("foo", "2.0")))
    add_solved_version(graph, "foo", "1.0", index.id)
    before = graph.query(f"SELECT project, releases FROM {STATE}.page_snapshot")

    read(store, index, page("foo", sdist("foo", "2.0"), sdist("foo", "3.0")), dry_run=True)
    store.record(index, {}, {}, not_found=["foo"], dry_run=True)
    read(store, index, page("bar", sdist("bar", "1.0")), dry_run=True)

    assert graph.query(f"SELECT project, releases FROM {STATE}.page_snapshot") == before
    assert is_missing(graph, "foo") == [("1.0", "3.11", False)]
    assert graph.rows(INDEX) == [("foo", "1.0"), ("foo", "2.0")]
