from __future__ import annotations

import io
import json
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from thoth.package_releases import progress as progress_module
from thoth.package_releases import run_log
from thoth.package_releases.phases.strategy import unchanged as _unchanged
from thoth.package_releases.progress import Progress
from thoth.package_releases.report import (
    HISTORY_RELEASES,
    FeedReport,
    IndexReport,
    NotificationCounts,
    ReleaseLog,
    RunReport,
)
from thoth.package_releases.report_file import report_path_problem, write_report
from thoth.package_releases.values import PageValidators, Release

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
INDEX = "https://pypi.org/simple"


def sample_report() -> RunReport:
    report = RunReport(started_at=START, dry_run=False, database="database 'thoth' on db:5432")
    report.finished_at = START + timedelta(seconds=2.5)
    report.indexes.append(IndexReport(url=INDEX, packages_checked=3, not_modified=1, not_found=1, new_releases=2))
    report.feeds.append(FeedReport(url="https://pypi.org/rss/updates.xml", index_url=INDEX, items=100))
    report.new_releases.extend([Release("click", "8.1", INDEX), Release("flask", "3.0", INDEX)])
    report.add_error("foo", INDEX, "HTTP 503 from https://pypi.org/simple/foo/ after 4 attempts")
    report.notifications = NotificationCounts(sent=1, pending=1)
    return report


def test_json_report_has_the_documented_keys_and_values() -> None:
    document = json.loads(sample_report().render_json())
    assert document["started_at"] == "2026-11-28T12:00:00+00:00"
    assert document["finished_at"] == "2026-11-28T12:00:02.500000+00:00"
    assert document["dry_run"] is False
    assert document["succeeded"] is True
    index = document["indexes"][0]
    assert {k: index[k] for k in ("url", "packages_checked", "not_found", "failed", "new_releases")} == {
        "url": INDEX,
        "packages_checked": 3,
        "not_found": 1,
        "failed": 0,
        "new_releases": 2,
    }
    assert document["new_releases"][0] == {"package_name": "click", "package_version": "8.1", "index_url": INDEX}
    assert document["errors"] == [
        {
            "package_name": "foo",
            "index_url": INDEX,
            "error": "HTTP 503 from https://pypi.org/simple/foo/ after 4 attempts",
            "source": "index",
        }
    ]
    assert document["notifications"] == {"sent": 1, "failed": 0, "pending": 1, "dead": 0}
    assert document["feeds"][0]["items"] == 100


def test_text_summary_names_counts_releases_and_errors() -> None:
    text = sample_report().render_text()
    lines = text.splitlines()
    assert lines[0] == ("Package releases: checked 3 packages on 1 index and 1 feed in 2.5 s; inserted 2 new releases.")
    assert "  + click 8.1 (https://pypi.org/simple)" in lines
    assert "  + flask 3.0 (https://pypi.org/simple)" in lines
    assert any(line.startswith("    foo on https://pypi.org/simple: HTTP 503") for line in lines)
    assert "  notifications: 1 sent, 0 failed this run, 1 pending, 0 dead" in lines


def test_text_summary_says_when_nothing_is_new_and_when_dry() -> None:
    report = RunReport(started_at=START, dry_run=True)
    report.finished_at = START
    assert report.render_text().splitlines()[0].endswith("would insert no new releases.")


def test_failed_and_interrupted_runs_are_not_successful() -> None:
    failed = sample_report()
    failed.failure = "every index failed"
    assert not failed.succeeded
    assert "  FAILED: every index failed" in failed.render_text().splitlines()
    interrupted = sample_report()
    interrupted.interrupted = "received SIGTERM"
    assert not interrupted.succeeded


def test_index_usable_unless_it_failed_as_a_whole() -> None:
    assert IndexReport(url=INDEX, packages_checked=2, failed=1).usable
    assert not IndexReport(url=INDEX, packages_checked=2, failed=2).usable
    assert not IndexReport(url=INDEX, error="listing: HTTP 500").usable
    assert IndexReport(url=INDEX).usable  # nothing to check is not a failure


@pytest.mark.parametrize(
    ("listed", "validators", "expected"),
    [
        (5, PageValidators(serial=5), True),
        (4, PageValidators(serial=5), True),
        (6, PageValidators(serial=5), False),
        (None, PageValidators(serial=5), False),
        (5, PageValidators(), False),
        (5, None, False),
    ],
)
def test_serial_skip_rule(listed: int | None, validators: PageValidators | None, expected: bool) -> None:
    assert _unchanged(listed, None if validators is None else validators.serial) is expected


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal() -> None:
    stream = FakeTerminal()
    bar = Progress("https://pypi.org/simple", 4, stream=stream)
    bar.advance(2, new_releases=3)
    bar.advance(2)
    bar.close()
    output = stream.getvalue()
    assert output.endswith("4/4 packages (100%), 3 new release(s)\n")
    assert "[##############################]" in output


def test_progress_logs_periodically_without_a_terminal(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "LOG_EVERY_PACKAGES", 10)
    stream = io.StringIO()
    caplog.set_level(logging.INFO, logger="thoth.package_releases.progress")
    bar = Progress("idx", 35, stream=stream)
    for _ in range(35):
        bar.advance()
    bar.close()
    assert stream.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records if r.name == "thoth.package_releases.progress"]
    assert messages == [
        "idx: 10/35 packages (29%), 0 new release(s)",
        "idx: 20/35 packages (57%), 0 new release(s)",
        "idx: 30/35 packages (86%), 0 new release(s)",
    ]


def test_quiet_progress_shows_nothing(caplog: pytest.LogCaptureFixture) -> None:
    stream = FakeTerminal()
    caplog.set_level(logging.INFO)
    bar = Progress("idx", 2, quiet=True, stream=stream)
    bar.advance(2)
    bar.close()
    assert stream.getvalue() == ""
    assert not [r for r in caplog.records if r.name == "thoth.package_releases.progress"]


def test_release_log_keeps_every_release_in_order_and_counts_by_index() -> None:
    log = ReleaseLog()
    releases = [Release(f"p{i}", f"1.{i}", INDEX if i % 3 else "https://mirror/simple") for i in range(120)]
    log.extend(releases[:70])
    partial = iter(log)
    assert next(partial) == releases[0]  # an iteration cut short must not disturb later appends
    log.extend(releases[70:])
    assert len(log) == 120
    assert list(log) == releases
    assert log.first(3) == releases[:3]
    assert len(log.first(500)) == HISTORY_RELEASES  # only the run history's worth is kept in memory
    assert log.by_index == {INDEX: 80, "https://mirror/simple": 40}
    log.close()


def test_json_report_streams_every_release_and_history_keeps_the_first() -> None:
    report = RunReport(started_at=START, dry_run=False)
    report.finished_at = START
    report.new_releases.extend(Release("p", f"0.{i}", INDEX) for i in range(250))
    document = json.loads(report.render_json())
    assert document["new_release_count"] == 250
    assert [r["package_version"] for r in document["new_releases"]] == [f"0.{i}" for i in range(250)]
    history = json.loads(report.history_json())
    assert history["new_release_count"] == 250
    assert len(history["new_releases"]) == HISTORY_RELEASES
    empty = RunReport(started_at=START, dry_run=True)
    assert json.loads(empty.render_json())["new_releases"] == []


def in_memory(spool: tempfile.SpooledTemporaryFile[str]) -> bool:
    """Whether a spooled file has not rolled over to a real file yet (text over an in-memory buffer)."""
    file = spool._file
    return isinstance(file, io.StringIO) or (isinstance(file, io.TextIOWrapper) and isinstance(file.buffer, io.BytesIO))


def test_release_log_spills_to_disk_past_its_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_log, "SPOOL_IN_MEMORY_BYTES", 1024)
    releases = [Release(f"project-{i}", f"{i}.0", INDEX) for i in range(500)]
    log = ReleaseLog(releases[:10])
    assert log._spool is not None
    assert in_memory(log._spool)  # small: still in memory
    log.extend(releases[10:])
    assert not in_memory(log._spool)  # past the budget: an unnamed temporary file
    assert list(log) == releases
    log.close()


# -- the --report file -------------------------------------------------------------------------------------------


def test_report_file_replaces_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n", encoding="utf-8")
    path = tmp_path / "report.json"
    path.symlink_to(victim)

    write_report(sample_report(), path)

    assert victim.read_text(encoding="utf-8") == "untouched\n"
    assert not path.is_symlink()
    assert json.loads(path.read_text(encoding="utf-8"))["database"] == "database 'thoth' on db:5432"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "victim.txt"], "no temporary file left"


def test_report_file_left_as_it_was_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"old": true}\n', encoding="utf-8")
    report = sample_report()

    def broken(stream: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_json", broken)
    with pytest.raises(OSError, match="No space left"):
        write_report(report, path)

    assert path.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_report_path_problems(tmp_path: Path) -> None:
    assert report_path_problem(tmp_path / "report.json") is None
    assert report_path_problem(tmp_path) == "it is a folder"
    missing = tmp_path / "missing"
    assert report_path_problem(missing / "report.json") == f"the folder {str(missing)!r} does not exist"
    assert list(tmp_path.iterdir()) == [], "the check leaves nothing behind"
