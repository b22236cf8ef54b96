"""End-to-end tests of issue 3: RSS feeds, trigger notifications through the durable outbox, Prometheus metrics.

Every test runs ``app.py`` as a real process (``python app.py ...`` from the repository root) against servers it
starts on 127.0.0.1 (:mod:`tests.support.servers`) and a fresh database (``--database-url``), then checks the
exact rows, outbox entries, requests received, report and metrics. The database is read and seeded with plain
SQL, independently of the job's own graph code.
"""

from __future__ import annotations

import base64
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import App, AppResult, KnowledgeGraph, WriteConfig, index_config, summary_line
from tests.support.graph import STATE
from tests.support.servers import (
    FeedServer,
    IndexServer,
    PushGatewayStandIn,
    WebhookReceiver,
    rss_packages,
    rss_updates,
)
from thoth.package_releases import __version__

pytestmark = pytest.mark.e2e

# Deliveries retry with backoff: a run gets more time than the e2e default before it counts as hung.
APP_TIMEOUT = 120.0

# The trigger secret: it must never show in the job's output, report or database.
TOKEN = "e2e-Secret-Token-7f3a9c1b"

METRIC_FAMILIES = {
    "thoth_package_releases_packages_checked",
    "thoth_package_releases_new_releases",
    "thoth_package_releases_notifications",
    "thoth_package_releases_run_duration_seconds",
    "thoth_package_releases_last_success_timestamp_seconds",
    "thoth_package_releases_info",
}


# -- running app.py --------------------------------------------------------------------------------------------


from tests.e2e.conftest import RunApp  # noqa: E402

# -- servers ---------------------------------------------------------------------------------------------------


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def requests_of(receiver: WebhookReceiver) -> list[tuple[str, str]]:
    """(method, path) of the requests the receiver got, sorted."""
    return sorted((r.method, r.path) for r in receiver.requests)


def assert_no_secret(run: AppResult, kg: KnowledgeGraph) -> None:
    for where, text in (
        ("stdout", run.stdout),
        ("stderr", run.stderr),
        ("report", run.report_text or ""),
        ("database", kg.stored_text()),
    ):
        assert TOKEN not in text, f"the trigger token leaked into the {where}\n{run}"


# -- 1. feeds ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("only_if_package_seen", [True, False], ids=["only-seen", "every-package"])
def test_feeds_insert_listed_releases_and_fetch_new_projects_from_the_index(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, feeds: FeedServer, only_if_package_seen: bool
) -> None:
    projects = {
        "known-pkg": ["1.0", "1.1", "2.0"],
        "monitored-pkg": ["0.9", "1.0"],
        "unknown-pkg": ["3.0"],
        "new-project": ["0.1", "0.2"],
        "brand-new-unknown": ["1.0"],
    }
    with IndexServer(projects) as index:
        url = index.base_url
        kg.add_entity("known-pkg", "1.0")  # known to Thoth (on no index)
        updates = feeds.set(
            "/rss/updates.xml", rss_updates([("Known_Pkg", "2.0"), ("monitored-pkg", "1.0"), ("unknown-pkg", "3.0")])
        )
        packages = feeds.set("/rss/packages.xml", rss_packages(["New.Project", "brand-new-unknown"]))
        config = write_config(
            index_config(
                url,
                only_if_package_seen=only_if_package_seen,
                feeds=[updates, packages],
                packages=["monitored-pkg", "new-project"],
            )
        )

        run = run_app("--config", config, "--feeds", "--no-scan")

        assert run.code == 0, run
        expected = [
            ("known-pkg", "1.0", None),
            ("known-pkg", "2.0", url),  # only the release the feed names: 1.1 waits for a scan
            ("monitored-pkg", "1.0", url),
            ("new-project", "0.1", url),
            ("new-project", "0.2", url),
        ]
        if not only_if_package_seen:
            expected += [("brand-new-unknown", "1.0", url), ("unknown-pkg", "3.0", url)]
        assert kg.entities() == sorted(expected, key=lambda row: (row[0], row[1], row[2] or ""))
        assert sorted(run.new_releases) == sorted((name, ver, url) for name, ver, where in expected if where)
        new_in_updates = 3 if not only_if_package_seen else 2
        new_in_packages = 3 if not only_if_package_seen else 2
        assert run.report["feeds"] == [
            {"url": updates, "index_url": url, "items": 3, "new_releases": new_in_updates, "error": None},
            {"url": packages, "index_url": url, "items": 2, "new_releases": new_in_packages, "error": None},
        ]
        assert run.report["indexes"] == []
        assert run.report["errors"] == []
        assert run.report["succeeded"] is True
        total = new_in_updates + new_in_packages
        assert summary_line(checked=0, indexes=0, feeds=2, new=total).fullmatch(run.summary), run
        assert f"  feed {updates}: 3 items, {new_in_updates} new\n" in run.stderr
        assert f"  feed {packages}: 2 items, {new_in_packages} new\n" in run.stderr
        # Each feed is read once; the index is asked only for the new projects' pages (no listing, no scan).
        assert sorted(r.path for r in feeds.requests) == ["/rss/packages.xml", "/rss/updates.xml"]
        wanted_pages = ["/simple/new-project/"]
        if not only_if_package_seen:
            wanted_pages = ["/simple/brand-new-unknown/", "/simple/new-project/"]
        assert sorted(r.path for r in index.requests) == wanted_pages


def test_broken_feeds_are_reported_and_the_run_goes_on(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, feeds: FeedServer
) -> None:
    with IndexServer({"monitored-pkg": ["0.9", "1.0"]}) as index:
        url = index.base_url
        unregistered_index = "http://127.0.0.1:9/simple"
        good = feeds.set("/good.xml", rss_updates([("monitored-pkg", "1.0")]))
        missing = feeds.url_for("/missing.xml")  # never set: 404
        html_page = feeds.set(
            "/html.xml",
            b"<!DOCTYPE html>\n<html><head><title>Oops</title></head>"
            b"<body><h1>Service unavailable</h1></body></html>\n",
            content_type="text/html; charset=utf-8",
        )
        truncated = feeds.set("/truncated.xml", rss_updates([("monitored-pkg", "0.9"), ("monitored-pkg", "1.0")]))
        feeds.truncate("/truncated.xml", times=None)
        elsewhere = feeds.set("/elsewhere.xml", rss_updates([("monitored-pkg", "0.9")]))
        feed_urls: list[str | tuple[str, str]] = [missing, html_page, truncated, (elsewhere, unregistered_index), good]
        config = write_config(index_config(url, feeds=feed_urls, packages=["monitored-pkg"]))

        run = run_app("--config", config)  # feeds and scan

        assert run.code == 0, run
        feed_reports = run.report["feeds"]
        assert [(f["url"], f["index_url"], f["items"], f["new_releases"]) for f in feed_reports] == [
            (missing, url, 0, 0),
            (html_page, url, 0, 0),
            (truncated, url, 0, 0),
            (elsewhere, unregistered_index, 1, 0),
            (good, url, 1, 1),
        ]
        errors = [f["error"] for f in feed_reports]
        assert errors[0] == f"{missing}: HTTP 404 Not Found"
        assert errors[1] == f"{html_page}: not an RSS or Atom feed (it looks like HTML)"
        assert re.fullmatch(rf"{re.escape(truncated)}: body not received: .*IncompleteRead.*", errors[2]), errors
        assert errors[3] == f"index {unregistered_index} is not registered and enabled in the knowledge graph"
        assert errors[4] is None
        assert run.report["errors"] == [
            {"package_name": None, "index_url": url, "error": f"feed: {errors[0]}", "source": "feed"},
            {"package_name": None, "index_url": url, "error": f"feed: {errors[1]}", "source": "feed"},
            {"package_name": None, "index_url": url, "error": f"feed: {errors[2]}", "source": "feed"},
            {
                "package_name": None,
                "index_url": unregistered_index,
                "error": f"feed {elsewhere}: {errors[3]}",
                "source": "feed",
            },
        ]
        for feed_url, error in zip((missing, html_page, truncated, elsewhere), errors[:4], strict=True):
            # The summary's feed line names the URL once.
            assert f"  feed {feed_url}: FAILED: {error.removeprefix(f'{feed_url}: ')}\n" in run.stderr
        assert f"  feed {good}: 1 item, 1 new\n" in run.stderr
        # Feed failures are on their feed lines, not repeated in the list of errors.
        assert " error:\n" not in run.stderr
        assert " errors:\n" not in run.stderr
        # The good feed's release, then the scan's: the rest of the run went on.
        assert run.new_releases == [("monitored-pkg", "1.0", url), ("monitored-pkg", "0.9", url)]
        assert kg.entities() == [("monitored-pkg", "0.9", url), ("monitored-pkg", "1.0", url)]
        (index_report,) = run.report["indexes"]
        assert (index_report["url"], index_report["packages_checked"], index_report["new_releases"]) == (url, 1, 1)
        assert run.report["succeeded"] is True
        assert summary_line(checked=1, indexes=1, feeds=5, new=2).fullmatch(run.summary), run


def test_no_feeds_scan_reads_no_feed(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, feeds: FeedServer
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index:
        url = index.base_url
        updates = feeds.set("/rss/updates.xml", rss_updates([("monitored-pkg", "1.0"), ("other", "2.0")]))
        packages = feeds.set("/rss/packages.xml", rss_packages(["other"]))
        config = write_config(index_config(url, feeds=[updates, packages], packages=["monitored-pkg"]))

        run = run_app("--config", config, "--no-feeds", "--scan")

        assert run.code == 0, run
        assert feeds.requests == []
        assert run.report["feeds"] == []
        assert kg.entities() == [("monitored-pkg", "1.0", url)]
        assert [r.path for r in index.requests] == ["/simple/monitored-pkg/"]
        assert summary_line(checked=1, indexes=1, feeds=0, new=1).fullmatch(run.summary), run


# -- 2. triggers ----------------------------------------------------------------------------------------------------


def trigger_config(index_url: str, *, feeds: Sequence[str] = ()) -> str:
    """An index, a monitored package with four triggers (templated URL/header/payload, a version specifier,
    pre-releases, another index that never matches), a monitored package with none; feeds optional."""
    return index_config(
        index_url,
        feeds=feeds,
        packages="""\
            Monitored_Pkg:
              triggers:
                - url: "{THOTH_TRIGGER_WEBHOOK}/release/{package_name}/{package_version}"
                  method: PUT
                  headers:
                    Authorization: "Bearer {THOTH_TRIGGER_TOKEN}"
                    X-Release: "{package_name}=={package_version}"
                  payload:
                    name: "{package_name}"
                    version: "{package_version}"
                    index: "{index_url}"
                    tags: ["e2e", "v{package_version}"]
                    stable: true
                    count: 3
                - url: "{THOTH_TRIGGER_WEBHOOK}/specifier/{package_version}"
                  version_specifier: ">=2.0,<3"
                - url: "{THOTH_TRIGGER_WEBHOOK}/prerelease/{package_name}?version={package_version}"
                  method: GET
                  version_specifier: ">=2.0"
                  prereleases: true
                - url: "{THOTH_TRIGGER_WEBHOOK}/other-index/{package_version}"
                  index_url: http://127.0.0.1:9/simple
            plain-pkg: {}
            """,
    )


def trigger_env(receiver: WebhookReceiver) -> dict[str, str]:
    return {"THOTH_TRIGGER_WEBHOOK": receiver.url, "THOTH_TRIGGER_TOKEN": TOKEN}


def expected_requests(versions: Sequence[str], url: str) -> dict[tuple[str, str], tuple[dict[str, str], Any]]:
    """(method, path) -> (headers that must be present, JSON body or None) for the releases the triggers fire for."""
    expected: dict[tuple[str, str], tuple[dict[str, str], Any]] = {}
    for ver in versions:
        pre = any(tag in ver for tag in ("a", "b", "rc", "dev"))
        major = int(ver.split(".")[0])
        if not pre:
            expected[("PUT", f"/release/monitored-pkg/{ver}")] = (
                {
                    "Authorization": f"Bearer {TOKEN}",
                    "X-Release": f"monitored-pkg=={ver}",
                    "Content-Type": "application/json",
                },
                {"name": "monitored-pkg", "version": ver, "index": url, "tags": ["e2e", f"v{ver}"], "stable": True}
                | {"count": 3},
            )
        if not pre and major == 2:
            expected[("POST", f"/specifier/{ver}")] = (
                {"Content-Type": "application/json"},
                {
                    "event": "new_release",
                    "package_name": "monitored-pkg",
                    "package_version": ver,
                    "index_url": url,
                    "details": {},
                },
            )
        if major >= 2:
            expected[("GET", f"/prerelease/monitored-pkg?version={ver}")] = ({}, None)
    return expected


def assert_requests(receiver: WebhookReceiver, expected: Mapping[tuple[str, str], tuple[dict[str, str], Any]]) -> None:
    received = receiver.requests
    counts = Counter((r.method, r.path) for r in received)
    assert counts == Counter(dict.fromkeys(expected, 1)), sorted(counts)
    for request in received:
        headers, body = expected[(request.method, request.path)]
        for name, value in headers.items():
            assert request.headers.get(name) == value, (request.path, name, request.headers)
        assert request.headers["User-Agent"].startswith("thoth-package-releases/"), request.headers
        if "Authorization" not in headers:
            assert "Authorization" not in request.headers, request
        if body is None:
            assert request.body == b"", request
            assert "Content-Type" not in request.headers, request
        else:
            assert request.json() == body, request
        assert request.status == 200


def test_triggers_fire_once_per_new_matching_release(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    with IndexServer(
        {"monitored-pkg": ["1.0", "1.5", "2.0", "2.1rc1", "3.0"], "plain-pkg": ["0.1"], "known-pkg": ["5.0"]}
    ) as index:
        url = index.base_url
        index_id = kg.add_index(url)
        kg.add_entity("monitored-pkg", "1.0", index_id)  # in the graph before the first run: never fires
        kg.add_entity("known-pkg", "4.0", index_id)  # known, not monitored: no trigger
        config = write_config(trigger_config(url))
        env = trigger_env(receiver)

        first = run_app("--config", config, "--verbose", env=env)

        assert first.code == 0, first
        assert sorted(first.new_releases) == sorted(
            [("monitored-pkg", v, url) for v in ("1.5", "2.0", "2.1rc1", "3.0")]
            + [("plain-pkg", "0.1", url), ("known-pkg", "5.0", url)]
        )
        assert_requests(receiver, expected_requests(["1.5", "2.0", "2.1rc1", "3.0"], url))
        assert len(receiver.requests) == 7
        assert first.notifications == {"sent": 7, "failed": 0, "pending": 0, "dead": 0}
        assert "  notifications: 7 sent, 0 failed this run, 0 pending, 0 dead\n" in first.stderr
        outbox = kg.outbox_with_errors()
        assert len(outbox) == 7
        assert {(status, attempts, error) for _, _, status, attempts, error in outbox} == {("sent", 1, None)}
        assert Counter((name, ver) for name, ver, *_ in outbox) == Counter(
            {("monitored-pkg", "1.5"): 1, ("monitored-pkg", "2.0"): 3, ("monitored-pkg", "2.1rc1"): 1}
            | {("monitored-pkg", "3.0"): 2}
        )
        assert_no_secret(first, kg)

        # Nothing new: nothing fires.
        receiver.clear_requests()
        second = run_app("--config", config, env=env)

        assert second.code == 0, second
        assert second.new_releases == []
        assert receiver.requests == []
        assert second.notifications == {"sent": 0, "failed": 0, "pending": 0, "dead": 0}
        assert "notifications:" not in second.stderr

        # Two new releases: only they fire, each once per matching trigger.
        index.publish("monitored-pkg", "2.0.1")
        index.publish("monitored-pkg", "3.1b1")
        third = run_app("--config", config, env=env)

        assert third.code == 0, third
        assert sorted(third.new_releases) == [("monitored-pkg", "2.0.1", url), ("monitored-pkg", "3.1b1", url)]
        assert_requests(receiver, expected_requests(["2.0.1", "3.1b1"], url))
        assert third.notifications == {"sent": 4, "failed": 0, "pending": 0, "dead": 0}
        assert kg.count(f"{STATE}.outbox") == 11
        for run in (second, third):
            assert_no_secret(run, kg)


def test_feed_and_scan_releases_fire_triggers_once(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, feeds: FeedServer
) -> None:
    with IndexServer({"monitored-pkg": ["2.5", "2.6"]}) as index:
        url = index.base_url
        updates = feeds.set("/rss/updates.xml", rss_updates([("Monitored.Pkg", "2.5")]))
        config = write_config(trigger_config(url, feeds=[updates]))

        run = run_app("--config", config, env=trigger_env(receiver))  # feeds, then the scan

        assert run.code == 0, run
        # 2.5 is recorded from the feed, 2.6 by the scan (which finds 2.5 already there): each fires once.
        assert run.new_releases == [("monitored-pkg", "2.5", url), ("monitored-pkg", "2.6", url)]
        assert run.report["feeds"][0]["new_releases"] == 1
        assert run.report["indexes"][0]["new_releases"] == 1
        assert_requests(receiver, expected_requests(["2.5", "2.6"], url))
        assert run.notifications == {"sent": 6, "failed": 0, "pending": 0, "dead": 0}
        assert_no_secret(run, kg)


# -- 3. durability --------------------------------------------------------------------------------------------------


def single_trigger_config(index_url: str) -> str:
    return index_config(
        index_url,
        packages="""\
            monitored-pkg:
              triggers:
                - url: "{THOTH_TRIGGER_WEBHOOK}/release/{package_name}/{package_version}"
                  headers:
                    Authorization: "Bearer {THOTH_TRIGGER_TOKEN}"
            """,
    )


def test_receiver_down_leaves_the_notification_pending_until_a_later_run_delivers_it(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index:
        url = index.base_url
        config = write_config(single_trigger_config(url))
        env = trigger_env(receiver)
        receiver.down()

        first = run_app("--config", config, env=env)

        assert first.code == 0, first
        assert first.new_releases == [("monitored-pkg", "1.0", url)]
        assert first.notifications == {"sent": 0, "failed": 1, "pending": 1, "dead": 0}
        assert "  notifications: 0 sent, 1 failed this run, 1 pending, 0 dead\n" in first.stderr
        ((name, ver, status, attempts, error),) = kg.outbox_with_errors()
        assert (name, ver, status, attempts) == ("monitored-pkg", "1.0", "pending", 3)
        assert error is not None
        assert error.startswith("connection refused by 127.0.0.1:"), error  # in plain words
        assert "/release/monitored-pkg/1.0" not in error, error  # a webhook's path may be its secret
        assert first.report["succeeded"] is True
        assert_no_secret(first, kg)

        # A dry run with the receiver up sends nothing, queues nothing, and leaves the entry as it is.
        receiver.up()
        index.publish("monitored-pkg", "1.1")
        dry = run_app("--config", config, "--dry-run", env=env)

        assert dry.code == 0, dry
        assert dry.new_releases == [("monitored-pkg", "1.1", url)]
        assert receiver.requests == []
        assert (dry.notifications["sent"], dry.notifications["failed"]) == (0, 0)
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "pending", 3, error)]
        assert kg.entities() == [("monitored-pkg", "1.0", url)]

        second = run_app("--config", config, env=env)

        assert second.code == 0, second
        assert second.new_releases == [("monitored-pkg", "1.1", url)]
        assert requests_of(receiver) == [("POST", "/release/monitored-pkg/1.0"), ("POST", "/release/monitored-pkg/1.1")]
        for request in receiver.requests:
            assert request.headers["Authorization"] == f"Bearer {TOKEN}"
            assert request.json() == {
                "event": "new_release",
                "package_name": "monitored-pkg",
                "package_version": request.path.rsplit("/", 1)[1],
                "index_url": url,
                "details": {},
            }
        assert second.notifications == {"sent": 2, "failed": 0, "pending": 0, "dead": 0}
        assert kg.outbox_with_errors() == [
            ("monitored-pkg", "1.0", "sent", 4, None),
            ("monitored-pkg", "1.1", "sent", 1, None),
        ]
        assert_no_secret(second, kg)


def test_a_run_killed_during_delivery_delivers_on_the_next_run(
    app: App, run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index, receiver.hold() as gate:
        url = index.base_url
        config = write_config(single_trigger_config(url))
        env = trigger_env(receiver)

        running = app.start("--config", config, database_url=kg.url, env=env, report=False, quiet=True)
        try:
            gate.wait_held(1, alive=running.running)  # a delivery started, its answer held back
            assert receiver.requests, f"no delivery started: exit {running.process.poll()}\n{running.stderr_so_far()}"
            assert running.running(), running.stderr_so_far()
        finally:
            if running.running():
                running.signal(signal.SIGKILL)
            killed = running.wait(10)
        assert killed.code == -signal.SIGKILL, killed

        # The release and its queued notification were committed before delivery began.
        assert kg.entities() == [("monitored-pkg", "1.0", url)]
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "pending", 0, None)]
        assert [r.path for r in receiver.requests] == ["/release/monitored-pkg/1.0"]

        gate.drop()  # the killed run's delivery stays unanswered; the next run's pass
        run = run_app("--config", config, env=env)

        assert run.code == 0, run
        assert run.report["skipped"] is None
        assert run.new_releases == []
        assert run.notifications == {"sent": 1, "failed": 0, "pending": 0, "dead": 0}
        answered = [r for r in receiver.requests if r.status == 200]
        assert [(r.method, r.path) for r in answered] == [("POST", "/release/monitored-pkg/1.0")]
        assert len(receiver.requests) == 2  # the killed run's unanswered try, and this run's
        assert answered[0].headers["Authorization"] == f"Bearer {TOKEN}"
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "sent", 1, None)]
        assert_no_secret(run, kg)


@pytest.mark.parametrize(
    "other_trigger_left",
    [
        pytest.param(True, id="other-trigger-left"),
        pytest.param(False, id="no-trigger-left"),
    ],
)
def test_a_pending_notification_whose_trigger_was_removed_is_given_up(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, other_trigger_left: bool
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index, WebhookReceiver(default_status=400) as receiver:
        url = index.base_url
        env = trigger_env(receiver)

        first = run_app("--config", write_config(single_trigger_config(url)), env=env)

        assert first.code == 0, first
        assert first.notifications == {"sent": 0, "failed": 1, "pending": 1, "dead": 0}
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "pending", 1, "HTTP 400 Bad Request")]

        other = 'other-pkg:\n  triggers:\n    - url: "{THOTH_TRIGGER_WEBHOOK}/other"\n' if other_trigger_left else ""
        config = write_config(index_config(url, packages="monitored-pkg: {}\n" + other), "removed.yaml")
        second = run_app("--config", config, env=env)

        assert second.code == 0, second
        assert len(receiver.requests) == 1
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "dead", 1, "trigger no longer configured")]
        assert second.notifications == {"sent": 0, "failed": 0, "pending": 0, "dead": 1}


def test_a_notification_that_keeps_failing_goes_dead_and_is_not_retried(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index, WebhookReceiver(default_status=500) as receiver:
        url = index.base_url
        config = write_config(single_trigger_config(url))
        env = trigger_env(receiver)

        first = run_app("--config", config, "--notification-attempts", "2", env=env)

        assert first.code == 0, first
        assert requests_of(receiver) == [("POST", "/release/monitored-pkg/1.0")] * 2
        assert [r.status for r in receiver.requests] == [500, 500]
        assert first.notifications == {"sent": 0, "failed": 1, "pending": 0, "dead": 1}
        assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "dead", 2, "HTTP 500 Internal Server Error")]
        assert len(first.lines_with("giving up after 2 attempts")) == 1, first
        assert_no_secret(first, kg)

        # Dead is final: later runs leave it alone, even with the receiver answering again.
        receiver.default_status = 200
        for _ in range(2):
            later = run_app("--config", config, "--notification-attempts", "2", env=env)

            assert later.code == 0, later
            assert len(receiver.requests) == 2
            assert later.notifications == {"sent": 0, "failed": 0, "pending": 0, "dead": 1}
            assert kg.outbox_with_errors() == [("monitored-pkg", "1.0", "dead", 2, "HTTP 500 Internal Server Error")]


def test_dry_run_sends_and_queues_nothing(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    with IndexServer({"monitored-pkg": ["1.0", "2.0"]}) as index, PushGatewayStandIn() as gateway:
        url = index.base_url
        config = write_config(trigger_config(url))
        env = {**trigger_env(receiver), "PROMETHEUS_PUSHGATEWAY_URL": gateway.url}

        run = run_app("--config", config, "--dry-run", env=env)

        assert run.code == 0, run
        assert run.report["dry_run"] is True
        assert sorted(run.new_releases) == [("monitored-pkg", "1.0", url), ("monitored-pkg", "2.0", url)]
        assert receiver.requests == []
        assert gateway.pushes == []  # a dry run must not replace the real runs' metrics
        assert run.notifications == {"sent": 0, "failed": 0, "pending": 0, "dead": 0}
        assert kg.count(f"{STATE}.outbox") == 0
        assert kg.count(f"{STATE}.run") == 0
        assert kg.entities() == []
        assert kg.count("python_package_index") == 0
        pattern = summary_line(checked=2, indexes=1, feeds=0, new=2, dry_run=True)
        assert pattern.fullmatch(run.summary), run


# -- 4. metrics -----------------------------------------------------------------------------------------------------


def families(text: str) -> dict[str, Any]:
    parsed = {family.name: family for family in text_string_to_metric_families(text)}
    return parsed


def samples(family: Any) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(sample.labels.items())): sample.value for sample in family.samples}


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_run_pushes_its_metrics_and_writes_the_metrics_file(
    run_app: RunApp,
    kg: KnowledgeGraph,
    write_config: WriteConfig,
    receiver: WebhookReceiver,
    feeds: FeedServer,
    tmp_path: Path,
) -> None:
    with (
        IndexServer({"monitored-pkg": ["1.0", "2.0"], "plain-pkg": ["0.1"], "known-pkg": ["1.0", "1.1"]}) as index,
        PushGatewayStandIn() as gateway,
    ):
        url = index.base_url
        kg.add_entity("known-pkg", "1.0")  # known on no index
        updates = feeds.set("/rss/updates.xml", rss_updates([("plain-pkg", "0.1")]))
        config = write_config(
            index_config(
                url,
                feeds=[updates],
                packages="""\
                    monitored-pkg:
                      triggers:
                        - url: "{THOTH_TRIGGER_WEBHOOK}/release/{package_name}/{package_version}"
                    plain-pkg:
                    ghost-pkg:
                    """,
            )
        )
        metrics_file = tmp_path / "metrics.prom"
        env = {
            "THOTH_TRIGGER_WEBHOOK": receiver.url,
            "PROMETHEUS_PUSHGATEWAY_URL": gateway.url,
            "THOTH_DEPLOYMENT_NAME": "e2e-deployment",
        }

        started = time.monotonic()
        run = run_app("--config", config, "--metrics-file", str(metrics_file), env=env)
        wall_clock = time.monotonic() - started

        assert run.code == 0, run
        rows = [row for row in kg.entities() if row[2] == url]
        assert len(rows) == 5
        assert len(run.new_releases) == 5
        assert run.notifications == {"sent": 2, "failed": 0, "pending": 0, "dead": 0}

        (push,) = gateway.pushes
        assert push.method == "PUT"
        assert push.path.startswith("/metrics/job/package-releases/"), push.path
        assert (push.job, push.labels, push.status) == ("package-releases", {"shard": "0/1"}, 200)
        assert len(run.lines_with("Pushed metrics to")) == 1, run

        pushed = families(push.body)
        assert set(pushed) >= METRIC_FAMILIES, sorted(pushed)
        assert {name: pushed[name].type for name in METRIC_FAMILIES} == dict.fromkeys(METRIC_FAMILIES, "gauge")
        index_label = (("index", url),)
        assert samples(pushed["thoth_package_releases_new_releases"]) == {index_label: float(len(rows))}
        # known-pkg, and the monitored monitored-pkg, plain-pkg and ghost-pkg (not on the index).
        assert samples(pushed["thoth_package_releases_packages_checked"]) == {index_label: 4.0}
        assert samples(pushed["thoth_package_releases_packages_not_found"]) == {index_label: 1.0}
        assert samples(pushed["thoth_package_releases_packages_failed"]) == {index_label: 0.0}
        assert samples(pushed["thoth_package_releases_index_up"]) == {index_label: 1.0}
        feed_label = (("feed", updates),)
        assert samples(pushed["thoth_package_releases_feed_items"]) == {feed_label: 1.0}
        assert samples(pushed["thoth_package_releases_feed_new_releases"]) == {feed_label: 1.0}
        assert samples(pushed["thoth_package_releases_feed_up"]) == {feed_label: 1.0}
        assert samples(pushed["thoth_package_releases_notifications"]) == {
            (("state", "sent"),): 2.0,
            (("state", "failed"),): 0.0,
            (("state", "pending"),): 0.0,
            (("state", "dead"),): 0.0,
        }
        assert samples(pushed["thoth_package_releases_errors"]) == {(): 0.0}
        assert samples(pushed["thoth_package_releases_run_success"]) == {(): 1.0}
        report = run.report
        ((duration,),) = [samples(pushed["thoth_package_releases_run_duration_seconds"]).values()]
        expected_duration = timestamp(report["finished_at"]) - timestamp(report["started_at"])
        assert duration == pytest.approx(expected_duration, abs=1e-3)
        assert 0 < duration < wall_clock
        ((last_success,),) = [samples(pushed["thoth_package_releases_last_success_timestamp_seconds"]).values()]
        assert last_success == pytest.approx(timestamp(report["finished_at"]), abs=1e-3)
        assert samples(pushed["thoth_package_releases_info"]) == {
            (
                ("deployment", "e2e-deployment"),
                ("thoth_storages_version", version("thoth-storages")),
                ("version", __version__),
            ): 1.0
        }

        # The file holds the same metrics, in a format the Prometheus parser reads.
        written = families(metrics_file.read_text(encoding="utf-8"))
        assert set(written) == set(pushed)
        assert {name: samples(family) for name, family in written.items()} == {
            name: samples(family) for name, family in pushed.items()
        }


def test_metrics_are_pushed_to_the_legacy_host_and_port(run_app: RunApp, write_config: WriteConfig) -> None:
    with IndexServer({"monitored-pkg": ["1.0", "1.1"]}) as index, PushGatewayStandIn() as gateway:
        url = index.base_url
        config = write_config(index_config(url, packages=["monitored-pkg"]))
        env = {"PROMETHEUS_PUSHGATEWAY_HOST": "127.0.0.1", "PROMETHEUS_PUSHGATEWAY_PORT": str(gateway.port)}

        run = run_app("--config", config, env=env)

        assert run.code == 0, run
        (push,) = gateway.pushes
        assert push.path.startswith("/metrics/job/package-releases/"), push.path
        assert (push.method, push.job, push.labels, push.status) == ("PUT", "package-releases", {"shard": "0/1"}, 200)
        pushed = families(push.body)
        assert set(pushed) >= METRIC_FAMILIES
        assert samples(pushed["thoth_package_releases_new_releases"]) == {(("index", url),): 2.0}
        assert samples(pushed["thoth_package_releases_packages_checked"]) == {(("index", url),): 1.0}


def test_a_failed_run_pushes_run_success_0_and_the_previous_success_time(
    run_app: RunApp, write_config: WriteConfig
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index, PushGatewayStandIn() as gateway:
        url = index.base_url
        config = write_config(index_config(url, packages=["monitored-pkg"]))
        env = {"PROMETHEUS_PUSHGATEWAY_URL": gateway.url}

        first = run_app("--config", config, env=env)
        assert first.code == 0, first

        index.fail("monitored-pkg", status=403, times=None)  # not retried: every package of the index fails
        second = run_app("--config", config, env=env)

        assert second.code == 1, second
        assert second.report["succeeded"] is False
        assert second.report["failure"].startswith(f"every index failed: {url}: every package failed"), second
        first_push, second_push = gateway.pushes
        assert (second_push.job, second_push.labels, second_push.status) == ("package-releases", {"shard": "0/1"}, 200)
        before, after = families(first_push.body), families(second_push.body)
        assert samples(before["thoth_package_releases_run_success"]) == {(): 1.0}
        assert samples(after["thoth_package_releases_run_success"]) == {(): 0.0}
        index_label = (("index", url),)
        assert samples(after["thoth_package_releases_index_up"]) == {index_label: 0.0}
        assert samples(after["thoth_package_releases_packages_failed"]) == {index_label: 1.0}
        assert samples(after["thoth_package_releases_new_releases"]) == {index_label: 0.0}
        first_success = timestamp(first.report["finished_at"])
        for pushed in (before, after):
            ((last_success,),) = [samples(pushed["thoth_package_releases_last_success_timestamp_seconds"]).values()]
            assert last_success == pytest.approx(first_success, abs=1e-3)


@pytest.mark.parametrize("failure", ["http-500", "down"])
def test_a_failing_push_gateway_does_not_fail_the_run(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, failure: str, tmp_path: Path
) -> None:
    with IndexServer({"monitored-pkg": ["1.0"]}) as index, PushGatewayStandIn() as gateway:
        url = index.base_url
        config = write_config(index_config(url, packages=["monitored-pkg"]))
        if failure == "down":
            gateway.down()
        else:
            gateway.respond_with(500)
        metrics_file = tmp_path / "metrics.prom"

        password = "e2e-Push-Pa55word"
        gateway_url = f"http://e2e-user:{password}@127.0.0.1:{gateway.port}"

        run = run_app(
            "--config", config, "--metrics-file", str(metrics_file), env={"PROMETHEUS_PUSHGATEWAY_URL": gateway_url}
        )

        assert run.code == 0, run
        assert run.report["succeeded"] is True
        assert kg.entities() == [("monitored-pkg", "1.0", url)]
        warnings = run.lines_with("cannot push metrics")
        assert len(warnings) == 1, run
        assert "WARNING" in warnings[0], warnings
        assert f"cannot push metrics to http://e2e-user:***@127.0.0.1:{gateway.port}: " in warnings[0], warnings
        for text in (run.stdout, run.stderr, run.report_text or ""):
            assert password not in text
        if failure == "http-500":
            assert warnings[0].endswith(": HTTPError: HTTP Error 500: Internal Server Error"), warnings
            assert [p.status for p in gateway.pushes] == [500]
            (request,) = gateway.requests
            credentials = base64.b64encode(f"e2e-user:{password}".encode()).decode()
            assert request.headers["Authorization"] == f"Basic {credentials}"
        else:
            assert "connection refused by 127.0.0.1:" in warnings[0], warnings
        assert "Traceback" not in run.stderr
        assert "Pushed metrics to" not in run.stderr
        # The file is written all the same.
        written = families(metrics_file.read_text(encoding="utf-8"))
        assert samples(written["thoth_package_releases_new_releases"]) == {(("index", url),): 1.0}
