"""Release events in the run report: the JSON's events and event_counts, the text summary, the run history."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from thoth.package_releases.phases.context import RunContext, StopFlag
from thoth.package_releases.phases.ports import IndexClientFactory, StorePort
from thoth.package_releases.report import HISTORY_RELEASES, EventLog, RunReport
from thoth.package_releases.settings import Settings
from thoth.package_releases.values import (
    EVENT_KINDS,
    HASH_MISMATCH,
    MISSING_PACKAGE,
    NEW_FILES,
    NEW_RELEASE,
    YANKED,
    ChunkOutcome,
    IndexRow,
    Release,
    ReleaseEvent,
)

T = TypeVar("T")

START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
INDEX = "https://pypi.org/simple"
YANK = ReleaseEvent(YANKED, "tensorflow", "2.0.0", INDEX, {"reason": "broken wheel"})
FILES = ReleaseEvent(
    NEW_FILES, "tensorflow", "2.1.0", INDEX, {"files": [{"filename": "tf-2.1.0-cp312.whl", "sha256": None}]}
)
GONE = ReleaseEvent(MISSING_PACKAGE, "leftpad", None, INDEX)
MISMATCH = ReleaseEvent(HASH_MISMATCH, "click", "8.0", INDEX, {"missing_on_index": ["aa"], "missing_in_graph": []})


def finished_report(*events: ReleaseEvent) -> RunReport:
    report = RunReport(started_at=START, dry_run=False)
    report.finished_at = START + timedelta(seconds=1)
    report.add_events(events)
    return report


def event_json(event: ReleaseEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "package_name": event.package_name,
        "package_version": event.package_version,
        "index_url": event.index_url,
        "details": dict(event.details),
    }


def test_json_report_lists_every_event_with_its_details_and_counts_every_kind() -> None:
    document = json.loads(finished_report(YANK, FILES, GONE, MISMATCH).render_json())

    assert document["events"] == [event_json(event) for event in (YANK, FILES, GONE, MISMATCH)]
    assert document["events"][2]["package_version"] is None  # a missing package has no version
    assert document["event_counts"] == {
        "new_release": 0,
        "yanked": 1,
        "unyanked": 0,
        "new_files": 1,
        "missing_version": 0,
        "reappeared": 0,
        "missing_package": 1,
        "hash_mismatch": 1,
    }
    assert list(document["event_counts"]) == list(EVENT_KINDS)


def test_a_report_without_events_has_an_empty_list_and_zero_counts() -> None:
    report = finished_report()
    for document in (json.loads(report.render_json()), json.loads(report.history_json())):
        assert document["events"] == []
        assert document["event_counts"] == dict.fromkeys(EVENT_KINDS, 0)
    assert "new_release:" not in report.render_text()


def test_every_event_is_in_the_report_file_and_the_history_keeps_the_counts_and_the_first() -> None:
    events = [ReleaseEvent(NEW_RELEASE, "p", f"0.{i}", INDEX) for i in range(HISTORY_RELEASES + 30)] + [YANK]
    report = finished_report(*events)
    report.new_releases.extend(Release("p", f"0.{i}", INDEX) for i in range(HISTORY_RELEASES + 30))

    document = json.loads(report.render_json())
    assert document["events"] == [event_json(event) for event in events]
    assert len(document["new_releases"]) == HISTORY_RELEASES + 30  # both lists streamed, neither disturbed

    history = json.loads(report.history_json())
    assert history["events"] == [event_json(event) for event in events[:HISTORY_RELEASES]]
    assert history["event_counts"][NEW_RELEASE] == HISTORY_RELEASES + 30
    assert history["event_counts"][YANKED] == 1
    report.close()


def test_text_summary_has_one_line_per_kind_with_events() -> None:
    report = finished_report(ReleaseEvent(NEW_RELEASE, "click", "8.1", INDEX), YANK, GONE, GONE)

    lines = report.render_text().splitlines()

    assert [line for line in lines if line.strip().split(":")[0] in EVENT_KINDS] == [
        "  new_release: 1",
        "  yanked: 1",
        "  missing_package: 2",
    ]


def test_event_log_gives_back_what_it_spooled() -> None:
    odd = ReleaseEvent(YANKED, "tensorflow", "2.0.0", INDEX, {"reason": "tab\there\nnewline, ünïcode"})
    log = EventLog([YANK, GONE])
    log.extend([MISMATCH, odd, FILES])
    assert list(log) == [YANK, GONE, MISMATCH, odd, FILES]
    assert len(log) == 5
    assert log.counts()[MISSING_PACKAGE] == 1
    log.close()


class OneChunkStore:
    """A store whose recording of any chunk returns the same outcome."""

    def __init__(self, outcome: ChunkOutcome) -> None:
        self.outcome = outcome

    def record(self, *args: object, **kwargs: object) -> ChunkOutcome:
        return self.outcome

    def with_reconnect(self, action: Callable[[], T], *, sleep: Callable[[float], None]) -> T:
        return action()


def test_the_run_context_reports_the_events_of_a_chunk_with_the_index_url_masked() -> None:
    stored = "https://user:s3cret@private.example/simple"
    events = (
        ReleaseEvent(NEW_RELEASE, "click", "8.1", stored),
        ReleaseEvent(YANKED, "click", "8.0", stored, {"reason": None}),
    )
    store = OneChunkStore(ChunkOutcome((Release("click", "8.1", stored),), 0, events))
    report = RunReport(started_at=START, dry_run=False)
    client = cast(IndexClientFactory, None)
    context = RunContext(Settings(), cast(StorePort, store), report, StopFlag(None), client)

    context.record(IndexRow(1, stored, None, True, True, False), {}, {}, None)

    shown = "https://user:***@private.example/simple"
    assert list(report.events) == [
        ReleaseEvent(NEW_RELEASE, "click", "8.1", shown),
        ReleaseEvent(YANKED, "click", "8.0", shown, {"reason": None}),
    ]
    assert "s3cret" not in report.render_json()
