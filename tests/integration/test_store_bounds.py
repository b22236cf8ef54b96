"""The store against a real PostgreSQL, fed values it would refuse (issue 10): cleaned or skipped, never retried."""

from __future__ import annotations

import datetime as dt
import json
import random
import string

import pytest

from tests.support.graph import STATE
from tests.support.store import INDEX, query, registered_index
from thoth.package_releases.clean import MAX_TEXT
from thoth.package_releases.store import DatabaseError, Store
from thoth.package_releases.values import ListingState, PageValidators, Release

pytestmark = pytest.mark.integration

# Random letters: PostgreSQL compresses a repetitive value below the btree limit, not these.
_RANDOM = random.Random(10)
LONG = "".join(_RANDOM.choices(string.ascii_lowercase + string.digits, k=4000))


def test_a_query_the_server_refuses_is_a_database_error_at_once_never_retried(store: Store) -> None:
    """A key too large for a btree index is an OperationalError, but no lost connection: one attempt, no backoff."""
    attempts: list[int] = []
    waits: list[float] = []

    def action() -> None:
        attempts.append(1)
        store.state.save_listing_state(f"https://{LONG}.example/simple", "0/1", ListingState(PageValidators()))

    with pytest.raises(DatabaseError, match="refused a query: index row size"):
        store.with_reconnect(action, sleep=waits.append)
    assert (len(attempts), waits) == (1, [])
    assert store.state.listing_state(INDEX, "0/1") is None  # the connection is still good


def test_unsafe_validators_and_serials_are_stored_as_absent(store: Store) -> None:
    index = registered_index(store)
    pages = {
        "alpha": PageValidators(etag='"a\x00b"', last_modified="Mon\x00", serial=10**30),
        "beta": PageValidators(etag='"ok"', last_modified="Mon", serial=-1),
    }
    store.record(index, {}, pages)
    assert store.state.page_validators(INDEX, ["alpha", "beta"]) == {
        "alpha": PageValidators(),
        "beta": PageValidators(etag='"ok"', last_modified="Mon"),
    }


def test_releases_too_long_for_the_graph_are_skipped_and_the_rest_recorded(store: Store, database_url: str) -> None:
    index = registered_index(store)
    outcome = store.record(index, {"alpha": ("1.0", "1.0+" + LONG), LONG: ("1.0",)}, {LONG: PageValidators(serial=1)})
    assert outcome.new_releases == (Release("alpha", "1.0", INDEX),)
    assert query(database_url, "SELECT package_name, package_version FROM python_package_version_entity") == [
        ("alpha", "1.0")
    ]


def test_an_outbox_error_with_control_characters_is_stored_cleaned_and_bounded(store: Store, database_url: str) -> None:
    index = registered_index(store)
    store.record(index, {"alpha": ("1.0",)}, {}, notifier=lambda release: ["hook"])
    (entry,) = store.state.pending_notifications()
    store.state.mark_notification(entry.id, status="dead", attempts=1, error="HTTP 500 Bad\x00Thing " + "x" * 5000)
    ((status, error),) = query(database_url, f"SELECT status, last_error FROM {STATE}.outbox")
    assert status == "dead"
    assert isinstance(error, str)
    assert error.startswith("HTTP 500 Bad\\x00Thing x")
    assert len(error) == MAX_TEXT


def test_a_run_summary_with_control_characters_is_recorded_cleaned(store: Store, database_url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    summary = json.dumps({"errors": [{"error": "feed: HTTP 500 Bad\x00Thing \ud800"}], "count": 1})
    store.state.save_run(now, now, "0/1", True, summary)
    ((stored,),) = query(database_url, f"SELECT summary FROM {STATE}.run")
    assert stored == {"errors": [{"error": "feed: HTTP 500 Bad\\x00Thing \\ud800"}], "count": 1}
    assert store.state.last_successful_run("0/1") == now
