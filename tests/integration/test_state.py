"""The job's own state schema against a real PostgreSQL: page validators, outbox, run lock."""

from __future__ import annotations

import pytest

from tests.support.store import INDEX, registered_index
from thoth.package_releases.releases import shard_of
from thoth.package_releases.store import Store
from thoth.package_releases.values import PageValidators, Release

pytestmark = pytest.mark.integration


def test_page_validators_are_saved_with_the_chunk_and_replaced(store: Store) -> None:
    index = registered_index(store)
    store.record(index, {}, {"click": PageValidators(etag='"a"', last_modified="Mon", serial=5)})
    assert store.state.page_validators(INDEX, ["click", "flask"]) == {
        "click": PageValidators(etag='"a"', last_modified="Mon", serial=5)
    }
    store.record(index, {}, {"click": PageValidators(etag='"b"', serial=6)})
    assert store.state.page_validators(INDEX, ["click"]) == {"click": PageValidators(etag='"b"', serial=6)}


def test_notifications_are_queued_with_the_release_and_only_once(store: Store) -> None:
    index = registered_index(store)
    notifier = lambda release: ["trigger-a"] if release.package_name == "tensorflow" else []  # noqa: E731
    outcome = store.record(index, {"tensorflow": ("2.0.0",), "click": ("8.0",)}, {}, notifier=notifier)
    assert outcome.notifications_queued == 1
    store.record(index, {"tensorflow": ("2.0.0",)}, {}, notifier=notifier)
    pending = store.state.pending_notifications()
    assert [(p.trigger_key, p.release) for p in pending] == [("trigger-a", Release("tensorflow", "2.0.0", INDEX))]
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
