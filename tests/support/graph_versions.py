"""Rows other Thoth services write into the knowledge graph, written with plain SQL as they write them.

The job inserts ``python_package_version_entity`` rows only. Solvers (thoth-storages' ``sync_solver_result`` through
``_create_python_package_version``) add, per entity and environment, a ``python_package_version`` row (the one
that carries ``is_missing``) and, per sha256 of the release, a ``python_artifact`` row (``artifact_name`` left
null, ``present`` true) linked to the entity through ``has_artifact``. These helpers write the same rows, so the
job's issue 13 code meets the graph it meets in production; they read ``is_missing`` and the artifacts' hashes as
``is_python_package_version_is_missing`` and ``get_python_package_hashes_sha256`` do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tests.support.graph import KnowledgeGraph


@dataclass(frozen=True)
class Environment:
    """The software environment a solver ran in: part of a ``python_package_version`` row's unique key."""

    os_name: str = "rhel"
    os_version: str = "9"
    python_version: str = "3.11"


RHEL9_PY311 = Environment()
FEDORA38_PY311 = Environment("fedora", "38", "3.11")


def index_id(kg: KnowledgeGraph, index_url: str) -> int:
    """The id of a registered index (it must be registered: the job registers its configured indexes)."""
    ((found,),) = kg.query("SELECT id FROM python_package_index WHERE url = %s", (index_url,))
    return int(found)


def entity_id(kg: KnowledgeGraph, name: str, version: str, index_url: str) -> int:
    """The id of a release's entity on an index, created first when missing (thoth-storages' get_or_create)."""
    where = index_id(kg, index_url)
    rows = kg.query(
        "SELECT id FROM python_package_version_entity"
        " WHERE package_name = %s AND package_version = %s AND python_package_index_id = %s",
        (name, version, where),
    )
    return int(rows[0][0]) if rows else kg.add_entity(name, version, where)


def add_package_version(
    kg: KnowledgeGraph,
    name: str,
    version: str,
    index_url: str,
    environment: Environment = RHEL9_PY311,
    *,
    is_missing: bool = False,
) -> int:
    """Write a solved ``python_package_version`` row of a release (its entity created when missing); return its id."""
    (row,) = kg.query(
        "INSERT INTO python_package_version (package_name, package_version, os_name, os_version, python_version,"
        " entity_id, python_package_index_id, is_missing, provides_source_distro)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true) RETURNING id",
        (
            name,
            version,
            environment.os_name,
            environment.os_version,
            environment.python_version,
            entity_id(kg, name, version, index_url),
            index_id(kg, index_url),
            is_missing,
        ),
    )
    return int(row[0])


def add_artifacts(kg: KnowledgeGraph, name: str, version: str, index_url: str, hashes: Iterable[str]) -> None:
    """Link artifacts with these sha256 to a release's entity (``python_artifact`` by hash, ``has_artifact``)."""
    entity = entity_id(kg, name, version, index_url)
    for sha256 in hashes:
        rows = kg.query(
            "SELECT id FROM python_artifact WHERE artifact_hash_sha256 = %s AND artifact_name IS NULL", (sha256,)
        )
        if rows:
            artifact = int(rows[0][0])
        else:
            ((artifact,),) = kg.query(
                "INSERT INTO python_artifact (artifact_hash_sha256, artifact_name, present) VALUES (%s, NULL, true)"
                " RETURNING id",
                (sha256,),
            )
        # No key on has_artifact in thoth-storages' migrated schema: get_or_create's check, done in SQL.
        kg.execute(
            "INSERT INTO has_artifact (python_package_version_entity_id, python_artifact_id) SELECT %s, %s"
            " WHERE NOT EXISTS (SELECT 1 FROM has_artifact WHERE python_package_version_entity_id = %s"
            " AND python_artifact_id = %s)",
            (entity, artifact, entity, artifact),
        )


def artifact_hashes(kg: KnowledgeGraph, name: str, version: str, index_url: str) -> list[str]:
    """The sha256 of a release's artifacts, sorted, read as ``get_python_package_hashes_sha256`` reads them."""
    rows = kg.query(
        "SELECT a.artifact_hash_sha256 FROM python_package_version_entity e"
        " JOIN python_package_index i ON i.id = e.python_package_index_id"
        " JOIN has_artifact h ON h.python_package_version_entity_id = e.id"
        " JOIN python_artifact a ON a.id = h.python_artifact_id"
        " WHERE e.package_name = %s AND e.package_version = %s AND i.url = %s ORDER BY 1",
        (name, version, index_url),
    )
    return [sha256 for (sha256,) in rows]


def missing_flags(kg: KnowledgeGraph, index_url: str) -> dict[tuple[str, str], list[bool]]:
    """(name, version) -> the ``is_missing`` flag of each of its ``python_package_version`` rows on an index."""
    flags: dict[tuple[str, str], list[bool]] = {}
    for name, version, missing in kg.query(
        "SELECT v.package_name, v.package_version, v.is_missing FROM python_package_version v"
        " JOIN python_package_index i ON i.id = v.python_package_index_id WHERE i.url = %s ORDER BY v.id",
        (index_url,),
    ):
        flags.setdefault((name, version), []).append(bool(missing))
    return flags


def table_snapshot(kg: KnowledgeGraph, *, skip: Iterable[str] = ()) -> dict[str, tuple[int, str | None]]:
    """Every table of the database's public and state schemas -> (row count, digest of its row versions).

    The digest covers each row's physical version (``ctid``, ``xmin``) with its values: any write to a table,
    even an update to the same values, changes it. ``skip``: tables (schema-qualified) left out.
    """
    tables = [
        f"{schema}.{table}"
        for schema, table in kg.query(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema IN ('public', 'thoth_package_releases') ORDER BY 1, 2"
        )
    ]
    skipped = set(skip)
    snapshot: dict[str, tuple[int, str | None]] = {}
    for table in tables:
        if table in skipped:
            continue
        ((count, digest),) = kg.query(
            f"SELECT count(*), md5(string_agg(t.ctid::text || t.xmin::text || t::text, ',' ORDER BY t.ctid))"
            f" FROM {table} t"
        )
        snapshot[table] = (int(count), digest)
    return snapshot
