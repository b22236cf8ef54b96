"""Tests of the run's Prometheus metrics: the registry's content, the push gateway, the text file."""

from __future__ import annotations

import importlib.metadata
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import PushGatewayStandIn
from thoth.package_releases import __version__
from thoth.package_releases.metrics import (
    JOB_NAME,
    build_registry,
    push,
    pushgateway_url,
    write_file,
)
from thoth.package_releases.report import FeedReport, IndexReport, NotificationCounts, ReleaseLog, RunReport
from thoth.package_releases.values import EVENT_KINDS, NEW_RELEASE, YANKED, Release, ReleaseEvent

PYPI = "https://pypi.org/simple"
MIRROR = "http://mirror.example.com:8080/simple"
UPDATES = "https://pypi.org/rss/updates.xml"
PACKAGES = "https://pypi.org/rss/packages.xml"
STARTED = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
FINISHED = STARTED + timedelta(seconds=42.5)
EARLIER = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def sample_report(**changes: object) -> RunReport:
    report = RunReport(
        started_at=STARTED,
        dry_run=False,
        finished_at=FINISHED,
        indexes=[
            IndexReport(PYPI, packages_checked=120, not_modified=100, not_found=2, failed=3, stale=1, new_releases=4),
            IndexReport(MIRROR, error="HTTP 503 Service Unavailable"),
        ],
        feeds=[
            FeedReport(UPDATES, PYPI, items=95, new_releases=2),
            FeedReport(PACKAGES, PYPI, error="not an RSS or Atom feed"),
        ],
        new_releases=ReleaseLog(Release("tensorflow", f"2.{i}.0", PYPI) for i in range(6)),
        notifications=NotificationCounts(sent=3, failed=1, pending=2, dead=5),
    )
    report.add_events(ReleaseEvent(NEW_RELEASE, "tensorflow", f"2.{i}.0", PYPI) for i in range(6))
    report.add_events([ReleaseEvent(YANKED, "tensorflow", "2.0.0", PYPI, {"reason": "broken"})])
    report.add_error("numpy", PYPI, "HTTP 500")
    report.add_error(None, MIRROR, "HTTP 503 Service Unavailable")
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def samples(text: str) -> Samples:
    """All samples of an exposition text, keyed by (sample name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def registry_samples(registry: CollectorRegistry) -> Samples:
    return samples(generate_latest(registry).decode())


def test_registry_of_a_run() -> None:
    registry = build_registry(sample_report(), environ={"THOTH_DEPLOYMENT_NAME": "ocp4-stage"}, last_success=EARLIER)
    values = registry_samples(registry)
    p = "thoth_package_releases_"

    assert values[(f"{p}packages_checked", (("index", PYPI),))] == 120
    assert values[(f"{p}packages_checked", (("index", MIRROR),))] == 0
    assert values[(f"{p}packages_not_modified", (("index", PYPI),))] == 100
    assert values[(f"{p}packages_not_found", (("index", PYPI),))] == 2
    assert values[(f"{p}packages_failed", (("index", PYPI),))] == 3
    assert values[(f"{p}packages_stale", (("index", PYPI),))] == 1
    assert values[(f"{p}index_up", (("index", PYPI),))] == 1
    assert values[(f"{p}index_up", (("index", MIRROR),))] == 0
    assert values[(f"{p}new_releases", (("index", PYPI),))] == 6
    assert values[(f"{p}new_releases", (("index", MIRROR),))] == 0
    assert values[(f"{p}events", (("kind", NEW_RELEASE),))] == 6
    assert values[(f"{p}events", (("kind", YANKED),))] == 1
    for kind in set(EVENT_KINDS) - {NEW_RELEASE, YANKED}:  # every kind, so that a rule can rely on the series
        assert values[(f"{p}events", (("kind", kind),))] == 0
    assert values[(f"{p}feed_items", (("feed", UPDATES),))] == 95
    assert values[(f"{p}feed_items", (("feed", PACKAGES),))] == 0
    assert values[(f"{p}feed_new_releases", (("feed", UPDATES),))] == 2
    assert values[(f"{p}feed_up", (("feed", UPDATES),))] == 1
    assert values[(f"{p}feed_up", (("feed", PACKAGES),))] == 0
    for state, value in (("sent", 3), ("failed", 1), ("pending", 2), ("dead", 5)):
        assert values[(f"{p}notifications", (("state", state),))] == value
    assert values[(f"{p}errors", ())] == 2
    assert values[(f"{p}run_duration_seconds", ())] == 42.5
    assert values[(f"{p}run_success", ())] == 1
    assert values[(f"{p}last_success_timestamp_seconds", ())] == FINISHED.timestamp()
    info = (
        ("deployment", "ocp4-stage"),
        ("thoth_storages_version", importlib.metadata.version("thoth-storages")),
        ("version", __version__),
    )
    assert values[("thoth_package_releases_info", info)] == 1


def test_every_family_is_named_and_typed() -> None:
    registry = build_registry(sample_report(), environ={}, last_success=None)
    families = {
        family.name: family.type for family in text_string_to_metric_families(generate_latest(registry).decode())
    }
    gauges = [
        "packages_checked",
        "packages_not_modified",
        "packages_not_found",
        "packages_failed",
        "packages_stale",
        "index_up",
        "new_releases",
        "events",
        "feed_items",
        "feed_new_releases",
        "feed_up",
        "notifications",
        "errors",
        "run_duration_seconds",
        "run_success",
        "last_success_timestamp_seconds",
    ]
    # The text format (what a push gateway takes) exposes the Info metric as a gauge named ..._info.
    expected = {f"thoth_package_releases_{name}": "gauge" for name in [*gauges, "info"]}
    assert families == expected


def test_registries_are_independent_of_each_other_and_of_the_global_one() -> None:
    first = build_registry(sample_report(), environ={}, last_success=None)
    second = build_registry(sample_report(notifications=NotificationCounts(sent=9)), environ={}, last_success=None)

    assert registry_samples(first)[("thoth_package_releases_notifications", (("state", "sent"),))] == 3
    assert registry_samples(second)[("thoth_package_releases_notifications", (("state", "sent"),))] == 9
    assert REGISTRY.get_sample_value("thoth_package_releases_run_success") is None


def test_a_failed_run_reports_the_previous_success() -> None:
    failed = sample_report(indexes=[IndexReport(PYPI, error="connection refused")])
    values = registry_samples(build_registry(failed, environ={}, last_success=EARLIER))

    assert values[("thoth_package_releases_run_success", ())] == 0
    assert values[("thoth_package_releases_last_success_timestamp_seconds", ())] == EARLIER.timestamp()
    info = next(labels for name, labels in values if name == "thoth_package_releases_info")
    assert ("deployment", "") in info


def test_with_no_success_known_the_timestamp_is_left_out() -> None:
    failed = sample_report(interrupted="received SIGTERM")
    values = registry_samples(build_registry(failed, environ={}, last_success=None))

    assert values[("thoth_package_releases_run_success", ())] == 0
    assert not any(name == "thoth_package_releases_last_success_timestamp_seconds" for name, _ in values)


@pytest.mark.parametrize(
    ("changes", "succeeded"),
    [
        ({}, True),
        ({"indexes": []}, True),
        ({"indexes": [IndexReport(PYPI, packages_checked=3, failed=3)]}, False),
        ({"indexes": [IndexReport(PYPI, error="down"), IndexReport(MIRROR)]}, True),
        ({"finished_at": None}, False),
        ({"skipped": "another run holds the lock"}, False),
        ({"interrupted": "the --deadline was reached"}, False),
        ({"failure": "every index failed"}, False),
    ],
)
def test_run_succeeded(changes: dict[str, object], succeeded: bool) -> None:
    assert sample_report(**changes).succeeded is succeeded


def test_duration_of_an_unfinished_run_is_up_to_now() -> None:
    report = sample_report(started_at=datetime.now(UTC) - timedelta(seconds=5), finished_at=None)
    duration = registry_samples(build_registry(report, environ={}, last_success=None))[
        ("thoth_package_releases_run_duration_seconds", ())
    ]
    assert 5 <= duration < 60


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, None),
        (
            {"PROMETHEUS_PUSHGATEWAY_URL": "https://pushgateway.example.com:9091"},
            "https://pushgateway.example.com:9091",
        ),
        (
            {"PROMETHEUS_PUSHGATEWAY_URL": " http://gw:9091 ", "PROMETHEUS_PUSHGATEWAY_HOST": "ignored"},
            "http://gw:9091",
        ),
        ({"PROMETHEUS_PUSHGATEWAY_HOST": "pushgateway", "PROMETHEUS_PUSHGATEWAY_PORT": "9091"}, "pushgateway:9091"),
        ({"PROMETHEUS_PUSHGATEWAY_HOST": "pushgateway.monitoring.svc"}, "pushgateway.monitoring.svc"),
        ({"PROMETHEUS_PUSHGATEWAY_HOST": "", "PROMETHEUS_PUSHGATEWAY_PORT": "9091"}, None),
        ({"PROMETHEUS_PUSHGATEWAY_URL": "  "}, None),
    ],
)
def test_pushgateway_url(environ: dict[str, str], url: str | None) -> None:
    assert pushgateway_url(environ) == url


def test_push_to_a_gateway() -> None:
    registry = build_registry(sample_report(), environ={}, last_success=None)
    with PushGatewayStandIn() as gateway:
        error = push(registry, gateway.url, grouping_key={"shard": "0"}, timeout=5)
        pushes = gateway.pushes

    assert error is None
    assert len(pushes) == 1
    assert pushes[0].method == "PUT"
    assert pushes[0].job == JOB_NAME
    assert pushes[0].labels == {"shard": "0"}
    assert pushes[0].path == f"/metrics/job/{JOB_NAME}/shard/0"
    assert samples(pushes[0].body) == registry_samples(registry)


def test_push_accepts_host_and_port_and_sends_credentials_as_basic_auth() -> None:
    registry = build_registry(sample_report(), environ={}, last_success=None)
    with PushGatewayStandIn() as gateway:
        assert push(registry, f"127.0.0.1:{gateway.port}", grouping_key={}, timeout=5) is None
        assert push(registry, f"http://metrics:pa%40ss@127.0.0.1:{gateway.port}", grouping_key={"shard": "1"}) is None
        requests = gateway.requests

    assert requests[0].path == f"/metrics/job/{JOB_NAME}"
    assert "authorization" not in requests[0].headers
    assert requests[1].headers["Authorization"] == "Basic bWV0cmljczpwYUBzcw=="  # metrics:pa@ss


def test_a_failed_push_is_an_error_string() -> None:
    registry = build_registry(sample_report(), environ={}, last_success=None)
    with PushGatewayStandIn() as gateway:
        gateway.respond_with(500)
        error = push(registry, f"http://metrics:hunter2@127.0.0.1:{gateway.port}", grouping_key={"shard": "0"})

    assert error is not None
    assert error.startswith(f"cannot push metrics to http://metrics:***@127.0.0.1:{gateway.port}: ")
    assert "500" in error
    assert "hunter2" not in error
    assert "\n" not in error


def test_push_to_a_closed_port_does_not_raise() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry = build_registry(sample_report(), environ={}, last_success=None)

    error = push(registry, f"http://127.0.0.1:{port}", grouping_key={"shard": "0"}, timeout=2)

    assert error is not None
    assert error.startswith(f"cannot push metrics to http://127.0.0.1:{port}: ")
    assert "refused" in error.lower()


def test_push_to_an_invalid_url_does_not_raise() -> None:
    registry = build_registry(sample_report(), environ={}, last_success=None)
    error = push(registry, "http://127.0.0.1:notaport", grouping_key={}, timeout=2)
    assert error is not None
    assert error.startswith("cannot push metrics to http://127.0.0.1:notaport: ")


def test_write_file(tmp_path: Path) -> None:
    registry = build_registry(sample_report(), environ={}, last_success=EARLIER)
    path = tmp_path / "package-releases.prom"

    write_file(registry, path)

    assert samples(path.read_text()) == registry_samples(registry)
    assert list(tmp_path.iterdir()) == [path]
