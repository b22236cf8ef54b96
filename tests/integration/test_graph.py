"""The knowledge-graph edge against a real PostgreSQL with thoth-storages' schema."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from tests.support.postgres import PostgresForTests
from thoth.package_releases import graph as graph_module
from thoth.package_releases.config import IndexConfig
from thoth.package_releases.graph import Graph
from thoth.package_releases.releases import shard_of
from thoth.package_releases.schema import SchemaError, head_revision
from thoth.package_releases.values import IndexRow, PageValidators, Release

pytestmark = pytest.mark.integration

INDEX = "https://pypi.org/simple"


@pytest.fixture
def graph(database_url: str) -> Iterator[Graph]:
    g = Graph(database_url)
    yield g
    g.close()


def query(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def execute(url: str, sql: str, params: tuple[object, ...] = ()) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def registered_index(graph: Graph, url: str = INDEX) -> IndexRow:
    graph.register_indexes([IndexConfig(url=url)])
    (row,) = [r for r in graph.indexes() if r.url == url]
    return row


def entities(url: str) -> list[tuple[object, ...]]:
    return query(
        url,
        "SELECT e.package_name, e.package_version, i.url FROM python_package_version_entity e"
        " JOIN python_package_index i ON i.id = e.python_package_index_id ORDER BY 1, 2",
    )


def test_template_is_at_thoth_storages_head(graph: Graph) -> None:
    assert graph.knowledge_graph_revision() == head_revision()
    assert graph.state_schema_version() >= 1


def test_empty_database_is_refused_without_migration_then_migrated(postgres: PostgresForTests) -> None:
    url = postgres.create_empty_database()
    try:
        g = Graph(url)
        with pytest.raises(SchemaError, match="--init-schema"):
            g.ensure_schema(migrate=False)
        g.ensure_schema(migrate=True)
        assert g.knowledge_graph_revision() == head_revision()
        g.ensure_schema(migrate=False)  # now nothing to do
        g.close()
    finally:
        postgres.drop_database(url)


def test_register_indexes_adds_missing_and_leaves_existing_rows_alone(graph: Graph, database_url: str) -> None:
    execute(
        database_url,
        "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
        " VALUES (%s, true, false, true)",
        ("https://existing.example/simple",),
    )
    added = graph.register_indexes(
        [
            IndexConfig(url="https://existing.example/simple", enabled=True, only_if_package_seen=False),
            IndexConfig(url=INDEX, warehouse_api_url="https://pypi.org/pypi"),
        ]
    )
    assert added == [INDEX]
    rows = {r.url: r for r in graph.indexes(enabled_only=False)}
    assert rows["https://existing.example/simple"].enabled is False
    assert rows["https://existing.example/simple"].only_if_package_seen is True
    assert rows[INDEX].enabled is True
    assert rows[INDEX].warehouse_api_url == "https://pypi.org/pypi"
    assert [r.url for r in graph.indexes()] == [INDEX]


def test_record_inserts_missing_releases_once(graph: Graph, database_url: str) -> None:
    index = registered_index(graph)
    first = graph.record(index, {"click": ("7.0", "8.0"), "flask": ("2.0",)}, {})
    assert first.new_releases == (
        Release("click", "7.0", INDEX),
        Release("click", "8.0", INDEX),
        Release("flask", "2.0", INDEX),
    )
    second = graph.record(index, {"click": ("7.0", "8.0", "8.1"), "flask": ("2.0",)}, {})
    assert second.new_releases == (Release("click", "8.1", INDEX),)
    assert entities(database_url) == [
        ("click", "7.0", INDEX),
        ("click", "8.0", INDEX),
        ("click", "8.1", INDEX),
        ("flask", "2.0", INDEX),
    ]
    assert graph.known_names() == {"click", "flask"}
    assert graph.known_versions(index.id, ["click"]) == {"click": {"7.0", "8.0", "8.1"}}


def test_rows_inserted_meanwhile_by_another_writer_are_not_duplicated_nor_new(
    graph: Graph, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = registered_index(graph)
    execute(
        database_url,
        "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
        " VALUES ('click', '8.0', %s)",
        (index.id,),
    )
    # Pretend the read of known versions happened before the other writer's insert.
    monkeypatch.setattr(graph_module, "_known_versions", lambda *_args: {})
    outcome = graph.record(index, {"click": ("8.0", "8.1")}, {})
    assert outcome.new_releases == (Release("click", "8.1", INDEX),)
    assert query(database_url, "SELECT count(*) FROM python_package_version_entity") == [(2,)]


def test_record_attaches_matching_entity_rules(graph: Graph, database_url: str) -> None:
    index = registered_index(graph)
    other = registered_index(graph, "https://other.example/simple")
    for version_range, index_id in [(None, None), ("<2.0", None), (">=2.0", index.id), (None, other.id)]:
        execute(
            database_url,
            "INSERT INTO python_package_version_entity_rule (package_name, version_range, python_package_index_id,"
            " description) VALUES ('tensorflow', %s, %s, 'test')",
            (version_range, index_id),
        )
    graph.record(index, {"tensorflow": ("1.15.0", "2.1.0")}, {})
    rows = query(
        database_url,
        "SELECT e.package_version, r.version_range, r.python_package_index_id"
        " FROM python_package_version_entity_rules_association a"
        " JOIN python_package_version_entity e ON e.id = a.python_package_version_entity_id"
        " JOIN python_package_version_entity_rule r ON r.id = a.python_package_version_entity_rule_id"
        " ORDER BY 1, 2 NULLS FIRST",
    )
    assert rows == [
        ("1.15.0", None, None),
        ("1.15.0", "<2.0", None),
        ("2.1.0", None, None),
        ("2.1.0", ">=2.0", index.id),
    ]


def test_dry_run_writes_nothing(graph: Graph, database_url: str) -> None:
    index = registered_index(graph)
    outcome = graph.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag='"x"', serial=3)}, dry_run=True)
    assert outcome.new_releases == (Release("click", "8.0", INDEX),)
    assert entities(database_url) == []
    assert graph.page_validators(INDEX, ["click"]) == {}


def test_unregistered_index_in_dry_run_reports_everything_as_new(graph: Graph) -> None:
    row = IndexRow(None, "https://new.example/simple", None, True, True, True)
    outcome = graph.record(row, {"a": ("1.0",)}, {}, dry_run=True)
    assert outcome.new_releases == (Release("a", "1.0", "https://new.example/simple"),)


def test_page_validators_are_saved_with_the_chunk_and_replaced(graph: Graph) -> None:
    index = registered_index(graph)
    graph.record(index, {}, {"click": PageValidators(etag='"a"', last_modified="Mon", serial=5)})
    assert graph.page_validators(INDEX, ["click", "flask"]) == {
        "click": PageValidators(etag='"a"', last_modified="Mon", serial=5)
    }
    graph.record(index, {}, {"click": PageValidators(etag='"b"', serial=6)})
    assert graph.page_validators(INDEX, ["click"]) == {"click": PageValidators(etag='"b"', serial=6)}


def test_a_failed_chunk_leaves_nothing_behind(graph: Graph, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    index = registered_index(graph)

    def broken(*_args: object) -> int:
        raise RuntimeError("boom after the insert")

    monkeypatch.setattr(graph_module, "_attach_rules", broken)
    with pytest.raises(RuntimeError):
        graph.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag='"a"')})
    assert entities(database_url) == []
    assert graph.page_validators(INDEX, ["click"]) == {}


def test_notifications_are_queued_with_the_release_and_only_once(graph: Graph) -> None:
    index = registered_index(graph)
    notifier = lambda release: ["trigger-a"] if release.package_name == "tensorflow" else []  # noqa: E731
    outcome = graph.record(index, {"tensorflow": ("2.0.0",), "click": ("8.0",)}, {}, notifier=notifier)
    assert outcome.notifications_queued == 1
    graph.record(index, {"tensorflow": ("2.0.0",)}, {}, notifier=notifier)
    pending = graph.pending_notifications()
    assert [(p.trigger_key, p.release) for p in pending] == [("trigger-a", Release("tensorflow", "2.0.0", INDEX))]
    graph.mark_notification(pending[0].id, status="sent", attempts=1, error=None)
    assert graph.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


def test_advisory_lock_admits_one_run_per_shard(database_url: str) -> None:
    first, second = Graph(database_url), Graph(database_url)
    try:
        assert first.try_lock(0, 1)
        assert not second.try_lock(0, 1)
        assert second.try_lock(1, 3)  # another shard is independent
        first.close()
        assert second.try_lock(0, 1)
    finally:
        first.close()
        second.close()


def test_unreachable_database_names_host_and_masks_password() -> None:
    with pytest.raises(graph_module.DatabaseError) as caught:
        Graph("postgresql://thoth:s3cret@127.0.0.1:1/knowledge", connect_timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "knowledge" in message
    assert "s3cret" not in message


def test_outbox_counts_per_shard_add_up_to_the_whole(graph: Graph) -> None:
    index = registered_index(graph)
    names = [f"pkg-{i}" for i in range(12)]
    graph.record(index, {name: ("1.0",) for name in names}, {}, notifier=lambda release: ["trigger"])
    whole = graph.outbox_counts()
    assert whole == {"pending": 12, "sent": 0, "dead": 0}
    per_shard = [graph.outbox_counts(shard, 3) for shard in range(3)]
    assert [counts["pending"] for counts in per_shard] == [
        sum(1 for name in names if shard_of(name, 3) == shard) for shard in range(3)
    ]
    assert sum(counts["pending"] for counts in per_shard) == 12
