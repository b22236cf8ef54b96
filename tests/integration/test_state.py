"""The job's own state schema against a real PostgreSQL: its creation at start, page validators, outbox, run lock."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable

import psycopg2
import pytest

from tests.support.graph import STATE, KnowledgeGraph
from tests.support.store import INDEX, query, registered_index
from thoth.package_releases.releases import shard_of
from thoth.package_releases.store import SchemaError, Store
from thoth.package_releases.store.schema import head_revision
from thoth.package_releases.store.state_schema import STATE_MIGRATIONS
from thoth.package_releases.values import NEW_RELEASE, ListingState, PageValidators, ReleaseEvent

pytestmark = pytest.mark.integration


def test_page_validators_are_saved_with_the_chunk_and_replaced(store: Store) -> None:
    index = registered_index(store)
    store.record(index, {}, {"click": PageValidators(etag='"a"', last_modified="Mon", serial=5)})
    assert store.state.page_validators(INDEX, ["click", "flask"]) == {
        "click": PageValidators(etag='"a"', last_modified="Mon", serial=5)
    }
    store.record(index, {}, {"click": PageValidators(etag='"b"', serial=6)})
    assert store.state.page_validators(INDEX, ["click"]) == {"click": PageValidators(etag='"b"', serial=6)}


def test_listing_state_keeps_whether_the_listing_had_serials_per_project(store: Store) -> None:
    assert store.state.listing_state(INDEX, "0/1") is None
    remembered = ListingState(PageValidators(etag='"root"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"), False)
    store.state.save_listing_state(INDEX, "0/1", remembered)
    assert store.state.listing_state(INDEX, "0/1") == remembered
    serials = ListingState(PageValidators(etag='"root-2"', serial=42), project_serials=True)
    store.state.save_listing_state(INDEX, "0/1", serials)
    assert store.state.listing_state(INDEX, "0/1") == serials
    assert store.state.listing_state(INDEX, "1/2") is None  # per shard


def test_page_names_are_the_projects_of_an_index_with_validators(store: Store) -> None:
    index = registered_index(store)
    store.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag="a"), "gone": PageValidators(etag="b")})
    assert store.state.page_names(INDEX) == {"click", "gone"}
    assert store.state.page_names("https://other.example/simple") == set()


def test_page_serials_are_read_in_one_pass_per_index_or_for_given_names(store: Store) -> None:
    index = registered_index(store)
    pages = {
        "click": PageValidators(etag="a", serial=7),
        "flask": PageValidators(etag="b"),
        **{f"pkg-{n}": PageValidators(serial=n) for n in range(50_000)},  # more rows than one fetch of the cursor
    }
    store.record(index, {}, pages)
    serials = store.state.page_serials(INDEX)
    assert len(serials) == 50_002
    assert (serials["click"], serials["flask"], serials["pkg-0"], serials["pkg-49999"]) == (7, None, 0, 49_999)
    assert store.state.page_serials(INDEX, {"click", "flask", "absent"}) == {"click": 7, "flask": None}
    assert store.state.page_serials("https://other.example/simple") == {}
    assert store.state.page_names(INDEX) == set(serials)  # the same projects as the names read in full


def test_notifications_are_queued_with_the_release_and_only_once(store: Store) -> None:
    index = registered_index(store)
    notifier = lambda release: ["trigger-a"] if release.package_name == "tensorflow" else []  # noqa: E731
    outcome = store.record(index, {"tensorflow": ("2.0.0",), "click": ("8.0",)}, {}, notifier=notifier)
    assert outcome.notifications_queued == 1
    store.record(index, {"tensorflow": ("2.0.0",)}, {}, notifier=notifier)
    pending = store.state.pending_notifications()
    assert [(p.trigger_key, p.event) for p in pending] == [
        ("trigger-a", ReleaseEvent(NEW_RELEASE, "tensorflow", "2.0.0", INDEX))
    ]
    store.state.mark_notification(pending[0].id, status="sent", attempts=1, error=None)
    assert store.state.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


def test_advisory_lock_admits_one_run_per_shard(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    try:
        assert first.state.try_lock(0, 1)
        assert not second.state.try_lock(0, 1)
        assert second.state.try_lock(1, 3)  # another shard is independent
        first.close()
        assert second.state.try_lock(0, 1)
    finally:
        first.close()
        second.close()


def test_outbox_counts_per_shard_add_up_to_the_whole(store: Store) -> None:
    index = registered_index(store)
    names = [f"pkg-{i}" for i in range(12)]
    store.record(index, {name: ("1.0",) for name in names}, {}, notifier=lambda release: ["trigger"])
    whole = store.state.outbox_counts()
    assert whole == {"pending": 12, "sent": 0, "dead": 0}
    per_shard = [store.state.outbox_counts(shard, 3) for shard in range(3)]
    assert [counts["pending"] for counts in per_shard] == [
        sum(1 for name in names if shard_of(name, 3) == shard) for shard in range(3)
    ]
    assert sum(counts["pending"] for counts in per_shard) == 12


# -- the state schema is created at start, on any database, with no flag (issue 12) ----------------------------

MIGRATION_LOCK = (zlib.crc32(b"thoth-package-releases-job") & 0x7FFFFFFF, 0)  # what the migration waits for
GATE_TIMEOUT = 30.0


def schema_versions(url: str) -> list[tuple[object, ...]]:
    return query(url, f"SELECT version FROM {STATE}.schema_version ORDER BY version")


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GATE_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.02)


def test_a_database_migrated_only_by_thoth_storages_gets_the_state_schema_without_a_flag(
    storages_database_url: str,
) -> None:
    kg = KnowledgeGraph(storages_database_url)
    assert not kg.table_exists(f"{STATE}.schema_version")
    s = Store(storages_database_url)
    try:
        assert s.graph.revision() == head_revision()
        assert s.state.version() == 0
        s.ensure_schema(migrate_graph=False)
        assert s.state.version() == len(STATE_MIGRATIONS)
        index = registered_index(s)
        s.record(index, {"click": ("8.0",)}, {"click": PageValidators(etag='"a"')})
        assert s.state.page_validators(INDEX, ["click"]) == {"click": PageValidators(etag='"a"')}
        s.ensure_schema(migrate_graph=False)  # at start again: nothing to do
    finally:
        s.close()
    assert schema_versions(storages_database_url) == [(v,) for v in range(1, len(STATE_MIGRATIONS) + 1)]


def test_runs_starting_at_once_on_a_database_without_state_schema_all_succeed_and_migrate_once(
    storages_database_url: str,
) -> None:
    runs = 4
    kg = KnowledgeGraph(storages_database_url)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            s = Store(storages_database_url)
            try:
                s.ensure_schema(migrate_graph=False)
            finally:
                s.close()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    # The gate: the migration lock, held here, so every run is past its "is the schema there?" check and
    # waiting to create it when they are let go together.
    gate = psycopg2.connect(storages_database_url)
    gate.autocommit = True
    threads = [threading.Thread(target=start) for _ in range(runs)]
    try:
        with gate.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
        for thread in threads:
            thread.start()
        wait_until(lambda: kg.job_lock_waiters() == runs, f"{runs} runs wait for the migration lock")
    finally:
        gate.close()  # releases the lock
    for thread in threads:
        thread.join(GATE_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert schema_versions(storages_database_url) == [(v,) for v in range(1, len(STATE_MIGRATIONS) + 1)]
    assert kg.table_exists(f"{STATE}.outbox")


def test_a_state_schema_created_meanwhile_by_someone_without_the_lock_is_taken_as_it_is(
    storages_database_url: str,
) -> None:
    # Someone (an operator, by hand) creates the schema without the migration lock and has not committed yet:
    # the run's CREATE SCHEMA IF NOT EXISTS waits on it, then fails on the duplicate name, and tries again.
    other = psycopg2.connect(storages_database_url)
    kg = KnowledgeGraph(storages_database_url)
    errors: list[BaseException] = []
    s = Store(storages_database_url)

    def start() -> None:
        try:
            s.ensure_schema(migrate_graph=False)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=start)
    try:
        with other.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {STATE}")
        thread.start()
        wait_until(lambda: kg.job_lock_waiters() == 1, "the run waits for the other creator")
        other.commit()
        thread.join(GATE_TIMEOUT)
    finally:
        other.close()
        s.close()
    assert not thread.is_alive()
    assert errors == []
    assert schema_versions(storages_database_url) == [(v,) for v in range(1, len(STATE_MIGRATIONS) + 1)]


def test_a_state_schema_the_user_may_not_create_stops_with_one_line(storages_database_url: str) -> None:
    role = "thoth_test_no_create"
    kg = KnowledgeGraph(storages_database_url)
    kg.execute(f"DROP ROLE IF EXISTS {role}")
    kg.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn = psycopg2.extensions.parse_dsn(storages_database_url)
        s = Store(psycopg2.extensions.make_dsn(**{**conn, "user": role, "password": ""}))
        try:
            with pytest.raises(SchemaError) as caught:
                s.state.ensure_schema()
        finally:
            s.close()
        message = str(caught.value)
        assert "\n" not in message
        assert f"cannot create the job's state schema {STATE!r}" in message
        assert "permission denied" in message
    finally:
        kg.execute(f"DROP ROLE {role}")
