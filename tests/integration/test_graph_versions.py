"""The issue 13 graph fixtures write rows that thoth-storages' own code reads and updates as the job must."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from tests.support.graph import KnowledgeGraph
from tests.support.graph_versions import (
    FEDORA38_PY311,
    add_artifacts,
    add_package_version,
    artifact_hashes,
    missing_flags,
    table_snapshot,
)

URL = "https://index.example/simple"


@pytest.fixture
def storages(database_url: str) -> Iterator[Any]:
    """thoth-storages' GraphDatabase on the test's database (connected without its KNOWLEDGE_GRAPH_* variables)."""
    from thoth.storages.graph.postgres import GraphDatabase

    graph = GraphDatabase()
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    graph._engine = engine
    graph._sessionmaker = sessionmaker(bind=engine)
    yield graph
    engine.dispose()


def test_versions_and_artifacts_as_thoth_storages_reads_and_flags_them(database_url: str, storages: Any) -> None:
    kg = KnowledgeGraph(database_url)
    kg.add_index(URL)
    add_package_version(kg, "pkg", "1.0", URL)
    add_package_version(kg, "pkg", "1.0", URL, FEDORA38_PY311)
    add_package_version(kg, "pkg", "2.0", URL)
    add_artifacts(kg, "pkg", "1.0", URL, ["b" * 64, "a" * 64])
    add_artifacts(kg, "pkg", "2.0", URL, ["a" * 64])  # the same artifact row, linked twice
    add_artifacts(kg, "pkg", "1.0", URL, ["a" * 64])  # again: nothing new

    assert kg.count("python_package_version_entity") == 2
    assert kg.count("python_artifact") == 2
    assert kg.count("has_artifact") == 3
    assert artifact_hashes(kg, "pkg", "1.0", URL) == ["a" * 64, "b" * 64]
    assert sorted(storages.get_python_package_hashes_sha256("pkg", "1.0", URL)) == ["a" * 64, "b" * 64]
    assert storages.get_python_package_hashes_sha256("pkg", "2.0", URL) == ["a" * 64]

    before = table_snapshot(kg)
    storages.update_missing_flag_package_version("pkg", "1.0", URL, True)
    assert missing_flags(kg, URL) == {("pkg", "1.0"): [True, True], ("pkg", "2.0"): [False]}
    changed = table_snapshot(kg)
    assert [table for table in before if before[table] != changed[table]] == ["public.python_package_version"]
    storages.update_missing_flag_package_version("pkg", "1.0", URL, False)
    assert missing_flags(kg, URL) == {("pkg", "1.0"): [False, False], ("pkg", "2.0"): [False]}
    # The same values, rewritten: the snapshot still tells.
    assert table_snapshot(kg)["public.python_package_version"] != before["public.python_package_version"]
