"""The knowledge-graph edge against a real PostgreSQL with thoth-storages' schema."""

from __future__ import annotations

import pytest

from tests.support.postgres import PostgresForTests
from tests.support.store import INDEX, execute, query, registered_index
from thoth.package_releases.config import IndexConfig
from thoth.package_releases.store import DatabaseError, SchemaError, Store
from thoth.package_releases.store.schema import head_revision
from thoth.package_releases.values import IndexChange, IndexRow, PageValidators, Release

pytestmark = pytest.mark.integration


def entities(url: str) -> list[tuple[object, ...]]:
    return query(
        url,
        "SELECT e.package_name, e.package_version, i.url FROM python_package_version_entity e"
        " JOIN python_package_index i ON i.id = e.python_package_index_id ORDER BY 1, 2",
    )


def test_template_is_at_thoth_storages_head(store: Store) -> None:
    assert store.graph.revision() == head_revision()
    assert store.state.version() >= 1


def test_empty_database_is_refused_without_migration_then_migrated(postgres: PostgresForTests) -> None:
    url = postgres.create_empty_database()
    try:
        s = Store(url)
        with pytest.raises(SchemaError, match="--init-schema"):
            s.ensure_schema(migrate_graph=False)
        s.ensure_schema(migrate_graph=True)
        assert s.graph.revision() == head_revision()
        s.ensure_schema(migrate_graph=False)  # now nothing to do
        s.close()
    finally:
        postgres.drop_database(url)


def test_register_indexes_adds_missing_and_leaves_existing_rows_alone(store: Store, database_url: str) -> None:
    execute(
        database_url,
        "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
        " VALUES (%s, true, false, true)",
        ("https://existing.example/simple",),
    )
    added = store.graph.register_indexes(
        [
            IndexConfig(url="https://existing.example/simple", enabled=True, only_if_package_seen=False),
            IndexConfig(url=INDEX, warehouse_api_url="https://pypi.org/pypi"),
        ]
    )
    assert added == [INDEX]
    rows = {r.url: r for r in store.graph.indexes(enabled_only=False)}
    assert rows["https://existing.example/simple"].enabled is False
    assert rows["https://existing.example/simple"].only_if_package_seen is True
    assert rows[INDEX].enabled is True
    assert rows[INDEX].warehouse_api_url == "https://pypi.org/pypi"
    assert [r.url for r in store.graph.indexes()] == [INDEX]


def test_update_indexes_applies_only_the_written_settings_that_differ(store: Store, database_url: str) -> None:
    existing = "https://existing.example/simple"
    execute(
        database_url,
        "INSERT INTO python_package_index (url, verify_ssl, enabled, only_if_package_seen)"
        " VALUES (%s, true, true, true)",
        (existing,),
    )
    written = IndexConfig(
        url=existing,
        verify_ssl=True,
        enabled=False,
        only_if_package_seen=False,
        written_keys=frozenset({"verify_ssl", "only_if_package_seen"}),  # enabled: false is a default here
    )
    unregistered = IndexConfig(url=INDEX, enabled=False, written_keys=frozenset({"enabled"}))

    planned = store.graph.update_indexes([written, unregistered], dry_run=True)
    row = {r.url: r for r in store.graph.indexes(enabled_only=False)}[existing]
    assert (row.enabled, row.only_if_package_seen) == (True, True)  # a dry run changes nothing

    changes = store.graph.update_indexes([written, unregistered])

    assert changes == planned == [IndexChange(existing, "only_if_package_seen", True, False)]
    row = {r.url: r for r in store.graph.indexes(enabled_only=False)}[existing]
    assert (row.verify_ssl, row.enabled, row.only_if_package_seen) == (True, True, False)
    assert store.graph.update_indexes([written]) == []  # applied: nothing differs any more


def test_record_inserts_missing_releases_once(store: Store, database_url: str) -> None:
    index = registered_index(store)
    first = store.record(index, {"click": ("7.0", "8.0"), "flask": ("2.0",)}, {})
    assert first.new_releases == (
        Release("click", "7.0", INDEX),
        Release("click", "8.0", INDEX),
        Release("flask", "2.0", INDEX),
    )
    second = store.record(index, {"click": ("7.0", "8.0", "8.1"), "flask": ("2.0",)}, {})
    assert second.new_releases == (Release("click", "8.1", INDEX),)
    assert entities(database_url) == [
        ("click", "7.0", INDEX),
        ("click", "8.0", INDEX),
        ("click", "8.1", INDEX),
        ("flask", "2.0", INDEX),
    ]
    assert store.graph.known_names() == {"click", "flask"}
    with store._conn.read_only() as cursor:  # the cursor-level read recording uses, on the store's connection
        assert store.graph.known_versions_in(cursor, index.id, ["click"]) == {"click": {"7.0", "8.0", "8.1"}}


def test_rows_inserted_meanwhile_by_another_writer_are_not_duplicated_nor_new(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = registered_index(store)
    execute(
        database_url,
        "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
        " VALUES ('click', '8.0', %s)",
        (index.id,),
    )
    # Pretend the read of known versions happened before the other writer's insert.
    monkeypatch.setattr(store.graph, "known_versions_in", lambda *_args: {})
    outcome = store.record(index, {"click": ("8.0", "8.1")}, {})
    assert outcome.new_releases == (Release("click", "8.1", INDEX),)
    assert query(database_url, "SELECT count(*) FROM python_package_version_entity") == [(2,)]


def test_record_attaches_matching_entity_rules(store: Store, database_url: str) -> None:
    index = registered_index(store)
    other = registered_index(store, "https://other.example/simple")
    for version_range, index_id in [(None, None), ("<2.0", None), (">=2.0", index.id), (None, other.id)]:
        execute(
            database_url,
            "INSERT INTO python_package_version_entity_rule (package_name, version_range, python_package_index_id,"
            " description) VALUES ('tensorflow', %s, %s, 'test')",
            (version_range, index_id),
        )
    store.record(index, {"tensorflow": ("1.15.0", "2.1.0")}, {})
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


def test_dry_run_writes_nothing(store: Store, database_url: str) -> None:
    index = registered_index(store)
    outcome = store.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag='"x"', serial=3)}, dry_run=True)
    assert outcome.new_releases == (Release("click", "8.0", INDEX),)
    assert entities(database_url) == []
    assert store.state.page_validators(INDEX, ["click"]) == {}


def test_unregistered_index_in_dry_run_reports_everything_as_new(store: Store) -> None:
    row = IndexRow(None, "https://new.example/simple", None, True, True, True)
    outcome = store.record(row, {"a": ("1.0",)}, {}, dry_run=True)
    assert outcome.new_releases == (Release("a", "1.0", "https://new.example/simple"),)


def test_a_failed_chunk_leaves_nothing_behind(store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    index = registered_index(store)

    def broken(*_args: object) -> int:
        raise RuntimeError("boom after the insert")

    monkeypatch.setattr(store.graph, "attach_rules", broken)
    with pytest.raises(RuntimeError):
        store.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag='"a"')})
    assert entities(database_url) == []
    assert store.state.page_validators(INDEX, ["click"]) == {}


def test_unreachable_database_names_host_and_masks_password() -> None:
    with pytest.raises(DatabaseError) as caught:
        Store("postgresql://thoth:s3cret@127.0.0.1:1/knowledge", connect_timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert "knowledge" in message
    assert "s3cret" not in message
