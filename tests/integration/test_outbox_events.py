"""The outbox of release events against a real PostgreSQL: the upgrade of entries queued before, and what is unique."""

from __future__ import annotations

import json

import psycopg2
import pytest

from tests.support.configs import package_named
from tests.support.graph import STATE
from tests.support.servers import WebhookReceiver
from tests.support.store import INDEX, query, registered_index
from thoth.package_releases.config import Config, parse_config
from thoth.package_releases.notifications import DeliveryPolicy, deliver_pending, notifier
from thoth.package_releases.report import NotificationCounts
from thoth.package_releases.sources.pages import DistributionFile, ProjectPage
from thoth.package_releases.store import Store
from thoth.package_releases.store.state import STATE_MIGRATIONS
from thoth.package_releases.values import (
    MISSING_PACKAGE,
    NEW_RELEASE,
    UNYANKED,
    YANKED,
    ChunkOutcome,
    Notifier,
    OutboxEntry,
    ReleaseEvent,
)

pytestmark = pytest.mark.integration

# The migration giving outbox entries a kind and details (found by its content: the lead orders migrations).
EVENTS_MIGRATION = next(
    position for position, sql in enumerate(STATE_MIGRATIONS, start=1) if "outbox ADD COLUMN kind" in sql
)


def state_schema_before_events(url: str) -> None:
    """Create the job's state schema as a job of the version before release events left it."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {STATE}")
            cursor.execute(f"CREATE TABLE {STATE}.schema_version (version INTEGER PRIMARY KEY)")
            for version in range(1, EVENTS_MIGRATION):
                cursor.execute(STATE_MIGRATIONS[version - 1])
                cursor.execute(f"INSERT INTO {STATE}.schema_version (version) VALUES (%s)", (version,))
    finally:
        conn.close()


def hook_config(receiver: WebhookReceiver) -> Config:
    """A configuration written before release events: a trigger without ``events:``."""
    document = {"packages": {"tensorflow": {"triggers": [{"url": f"{receiver.url}/hook/{{event}}/{{package_name}}"}]}}}
    return parse_config(document, "thoth.yaml", {})


def trigger_key(config: Config) -> str:
    package = package_named(config, "tensorflow")
    assert package is not None
    return package.triggers[0].key


def test_an_entry_queued_before_the_upgrade_is_delivered_once_as_a_new_release(storages_database_url: str) -> None:
    url = storages_database_url
    state_schema_before_events(url)
    with WebhookReceiver() as receiver:
        config = hook_config(receiver)
        key = trigger_key(config)
        conn = psycopg2.connect(url)
        try:
            with conn, conn.cursor() as cursor:  # as the job before the upgrade queued it, with the columns it had
                cursor.execute(
                    f"INSERT INTO {STATE}.outbox (trigger_key, package_name, package_version, index_url, status)"
                    " VALUES (%s, 'tensorflow', '2.0.0', %s, 'pending'), (%s, 'tensorflow', '1.0.0', %s, 'sent')",
                    (key, INDEX, key, INDEX),
                )
        finally:
            conn.close()

        store = Store(url)
        try:
            store.ensure_schema(migrate_graph=False)
            assert store.state.version() == len(STATE_MIGRATIONS)
            (pending,) = store.state.pending_notifications()
            assert pending == OutboxEntry(
                pending.id, key, ReleaseEvent(NEW_RELEASE, "tensorflow", "2.0.0", INDEX, {}), 0, None
            )
            # Recorded again after the upgrade (the row is not in the graph): still the same event, not queued twice.
            outcome = store.record(registered_index(store), {"tensorflow": ("2.0.0",)}, {}, notifier=notifier(config))
            assert outcome.events == (ReleaseEvent(NEW_RELEASE, "tensorflow", "2.0.0", INDEX),)
            assert outcome.notifications_queued == 0

            counts = deliver_pending(store.state, config, {}, DeliveryPolicy(backoff=0.0, timeout=5.0))
        finally:
            store.close()

        assert counts == NotificationCounts(sent=1, failed=0, pending=0, dead=0)
        (request,) = receiver.requests
        assert (request.method, request.path) == ("POST", "/hook/new_release/tensorflow")
        assert json.loads(request.body) == {
            "event": NEW_RELEASE,
            "package_name": "tensorflow",
            "package_version": "2.0.0",
            "index_url": INDEX,
            "details": {},
        }
    assert query(url, f"SELECT package_version, kind, status FROM {STATE}.outbox ORDER BY id") == [
        ("2.0.0", NEW_RELEASE, "sent"),
        ("1.0.0", NEW_RELEASE, "sent"),
    ]


def enqueue(store: Store, url: str, events: list[ReleaseEvent], keys: Notifier) -> int:
    """Queue events in a transaction of their own, as recording a chunk does."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cursor:
            return store.state.enqueue(cursor, events, keys)
    finally:
        conn.close()


def test_a_new_release_is_queued_once_per_trigger_but_every_yank_is_an_entry(store: Store, database_url: str) -> None:
    both: Notifier = lambda event: ["a", "b"]  # noqa: E731
    release = ReleaseEvent(NEW_RELEASE, "tensorflow", "2.0.0", INDEX)
    assert enqueue(store, database_url, [release], both) == 2
    assert enqueue(store, database_url, [release], both) == 0

    yanks = [
        ReleaseEvent(YANKED, "tensorflow", "2.0.0", INDEX, {"reason": "broken"}),
        ReleaseEvent(UNYANKED, "tensorflow", "2.0.0", INDEX),
        ReleaseEvent(YANKED, "tensorflow", "2.0.0", INDEX, {"reason": "broken"}),
    ]
    assert enqueue(store, database_url, yanks[:2], lambda event: ["a"]) == 2
    assert enqueue(store, database_url, yanks[2:], lambda event: ["a"]) == 1  # yanked again after the unyank

    pending = store.state.pending_notifications()
    assert [(entry.trigger_key, entry.event) for entry in pending] == [
        ("a", release),
        ("b", release),
        ("a", yanks[0]),
        ("a", yanks[1]),
        ("a", yanks[2]),
    ]


def test_kind_and_details_are_stored_and_read_back(store: Store, database_url: str) -> None:
    gone = ReleaseEvent(MISSING_PACKAGE, "leftpad", None, INDEX)
    files = ReleaseEvent(
        "new_files",
        "tensorflow",
        "2.1.0",
        INDEX,
        {"files": [{"filename": "tf-2.1.0-py3-none-any.whl", "sha256": None}]},
    )
    odd = ReleaseEvent(YANKED, "tensorflow", "2.0.0", INDEX, {"reason": "bad\x00reason \ud800"})
    assert enqueue(store, database_url, [gone, files, odd], lambda event: ["a"]) == 3

    entries = [entry.event for entry in store.state.pending_notifications()]
    assert entries[:2] == [gone, files]
    # jsonb takes neither NUL nor lone surrogates: the reason is kept, cleaned.
    assert entries[2].kind == YANKED
    assert entries[2].details["reason"].startswith("bad")
    assert "\x00" not in entries[2].details["reason"]
    assert store.state.outbox_counts() == {"pending": 3, "sent": 0, "dead": 0}


def test_detected_events_are_queued_and_delivered_to_the_triggers_subscribed_to_them(store: Store) -> None:
    index = registered_index(store)

    def read(*files: DistributionFile, keys: Notifier) -> ChunkOutcome:
        versions = tuple(sorted({f.filename.split("-")[1].removesuffix(".tar.gz") for f in files}))
        page = ProjectPage("tensorflow", tuple(files), versions, (), None)
        return store.record(index, {page.name: versions}, {}, notifier=keys, read={page.name: page})

    with WebhookReceiver() as receiver:
        document = {
            "packages": {
                "tensorflow": {
                    "triggers": [
                        {"url": f"{receiver.url}/releases/{{package_version}}"},
                        {"url": f"{receiver.url}/yanks/{{event}}", "events": [YANKED, UNYANKED, MISSING_PACKAGE]},
                    ]
                }
            }
        }
        config = parse_config(document, "thoth.yaml", {})
        keys = notifier(config)
        sdist = "tensorflow-2.0.0.tar.gz"
        first = read(DistributionFile(sdist), keys=keys)  # first read: only the new release
        yanked = read(DistributionFile(sdist, yanked=True, yanked_reason="broken"), keys=keys)
        unyanked = read(DistributionFile(sdist), keys=keys)
        again = read(DistributionFile(sdist, yanked=True, yanked_reason="broken"), keys=keys)
        gone = store.record(index, {}, {}, notifier=keys, not_found=["tensorflow"])
        assert [outcome.notifications_queued for outcome in (first, yanked, unyanked, again, gone)] == [1, 1, 1, 1, 1]

        counts = deliver_pending(store.state, config, {}, DeliveryPolicy(backoff=0.0, timeout=5.0))

        assert counts == NotificationCounts(sent=5, failed=0, pending=0, dead=0)
        assert [(request.path, json.loads(request.body)) for request in receiver.requests] == [
            ("/releases/2.0.0", payload(NEW_RELEASE, "2.0.0", {})),
            ("/yanks/yanked", payload(YANKED, "2.0.0", {"reason": "broken"})),
            ("/yanks/unyanked", payload(UNYANKED, "2.0.0", {})),
            ("/yanks/yanked", payload(YANKED, "2.0.0", {"reason": "broken"})),
            ("/yanks/missing_package", payload(MISSING_PACKAGE, None, {})),
        ]


def payload(kind: str, version: str | None, details: dict[str, object]) -> dict[str, object]:
    """The default payload of an event of tensorflow on the test index."""
    return {
        "event": kind,
        "package_name": "tensorflow",
        "package_version": version,
        "index_url": INDEX,
        "details": details,
    }
