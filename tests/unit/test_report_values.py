"""Unit tests of how the report keeps values from outside (issue 10): cleaned errors, invalid listed names."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.fakes import FakeEdges, FakeIndex
from thoth.package_releases.clean import MAX_TEXT
from thoth.package_releases.job import Job
from thoth.package_releases.phases.strategy import _note_invalid_names
from thoth.package_releases.report import IndexReport, RunReport
from thoth.package_releases.settings import Settings
from thoth.package_releases.sources.index import FetchStatus, ListingResult, ProjectResult
from thoth.package_releases.values import PageValidators

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
INDEX = "https://pypi.org/simple"


def finished_report() -> RunReport:
    report = RunReport(started_at=START, dry_run=False)
    report.finished_at = START + timedelta(seconds=1)
    return report


def test_errors_are_kept_with_control_characters_escaped_and_bounded() -> None:
    report = finished_report()
    report.add_error(None, INDEX, "feed: HTTP 500 Bad\x00Thing")
    report.add_error("foo", INDEX, "x" * 60_000)
    assert [entry.error for entry in report.errors] == ["feed: HTTP 500 Bad\\x00Thing", "x" * (MAX_TEXT - 3) + "..."]
    assert "\x00" not in report.render_text()
    assert "\\u0000" not in report.render_json()


def test_invalid_listed_names_are_counted_shown_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    report = finished_report()
    index = IndexReport(url=INDEX, packages_checked=2)
    report.indexes.append(index)
    examples = ["'be\\\\x00ta'", "'<script>'"]

    with caplog.at_level(logging.WARNING):
        _note_invalid_names(index, 7, examples)

    assert (index.invalid_names, index.invalid_name_examples) == (7, examples)
    assert "7 invalid names skipped" in report.render_text()
    document = json.loads(report.render_json())
    assert document["indexes"][0]["invalid_names"] == 7
    assert document["indexes"][0]["invalid_name_examples"] == examples
    (record,) = _invalid_name_records(caplog)
    assert record.getMessage().endswith("'be\\\\x00ta', '<script>', ...")


def test_a_listing_without_invalid_names_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    index = IndexReport(url=INDEX)
    with caplog.at_level(logging.WARNING):
        _note_invalid_names(index, 0, [])
    assert (index.invalid_names, index.invalid_name_examples, _invalid_name_records(caplog)) == (0, [], [])


def _invalid_name_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The captured records ``_note_invalid_names`` logged (not a stray record another test's thread logged late)."""
    return [record for record in caplog.records if record.funcName == _note_invalid_names.__name__]


class IndexWithInvalidValues(FakeIndex):
    """An index listing three names that are no project names, and giving ``alpha`` 15 invalid versions."""

    INVALID = ("1.0+" + "x" * 4000, *(f"bad-{i}" for i in range(14)))

    def project_listing(self, validators: PageValidators | None = None) -> ListingResult:
        examples = ("'<script>'", "'a b'", "'..'")
        return ListingResult(FetchStatus.OK, projects=tuple(self.projects), invalid_names=3, invalid_examples=examples)

    def fetch_many(
        self,
        items: Iterable[tuple[str, PageValidators | None]],
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> Generator[ProjectResult, None, None]:
        for name, _ in items:
            yield ProjectResult(name, FetchStatus.OK, ("1.0",), self.INVALID if name == "alpha" else ())


def test_a_scan_counts_invalid_names_and_versions_and_names_a_bounded_number_of_them(tmp_path: Path) -> None:
    edges = FakeEdges()
    edges.indexes[INDEX] = IndexWithInvalidValues({"alpha": ["1.0"], "beta": ["1.0"]})
    config = tmp_path / "thoth.yaml"
    config.write_text(f"indexes:\n  - {{url: {INDEX}, only_if_package_seen: false}}\n", encoding="utf-8")
    settings = Settings(config=str(config), quiet=True, environ={}, database_url="postgresql://fake/graph")

    report = Job(settings, adapters=edges.adapters()).run()

    (index,) = report.indexes
    assert (index.invalid_names, index.invalid_name_examples) == (3, ["'<script>'", "'a b'", "'..'"])
    assert index.invalid_versions == 15
    # The over-long version is a release the graph cannot hold: one error. The others are listed, no errors.
    (error,) = [entry.error for entry in report.errors if entry.package_name == "alpha"]
    assert error.startswith("skipped 1 version(s) longer than 256 characters, e.g. '1.0+xxx")
    assert error.endswith("...'")
    assert len(error) < 200
    assert [(item.package_name, item.version) for item in index.invalid_versions_listed] == [
        ("alpha", f"bad-{i}") for i in range(14)
    ]
