"""Prometheus metrics of a run: a registry of its own, pushed to a push gateway and/or written to a file.

Every metric is a gauge describing the last run (``thoth_package_releases_*``), labelled by ``index`` or
``feed`` URL where that applies; the shard goes in the push's grouping key, not in labels. A push replaces
the metrics previously pushed with the same grouping key. Pushing is best effort: a failure is returned as a
message and never fails the run.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from prometheus_client import CollectorRegistry, Gauge, Info, push_to_gateway, write_to_textfile

from thoth.package_releases import __version__, distribution_version
from thoth.package_releases.redact import mask_url, one_line
from thoth.package_releases.report import RunReport
from thoth.package_releases.sources import http
from thoth.package_releases.sources.http import RequestFailed, describe_failure, new_session

_LOGGER = logging.getLogger(__name__)
_JOB_LOGGER = logging.getLogger("thoth.package_releases.job")  # the run's own warnings, as before the split

JOB_NAME: Final = "package-releases"
PREFIX: Final = "thoth_package_releases"

_Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]


def build_registry(
    report: RunReport, *, environ: Mapping[str, str], last_success: datetime | None
) -> CollectorRegistry:
    """Return a new registry (not the global one) holding the metrics of a run.

    ``last_success`` is when the previous successful run ended; it is reported as the last success unless
    this run succeeded, and the metric is left out when neither is known.
    """
    registry = CollectorRegistry(auto_describe=True)

    def gauge(name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", documentation, labelnames=labels, registry=registry)

    per_index = {
        "packages_checked": ("Packages whose versions were checked on an index in the last run.", "packages_checked"),
        "packages_not_modified": ("Packages whose index page had not changed (HTTP 304).", "not_modified"),
        "packages_not_found": ("Packages not found on an index.", "not_found"),
        "packages_failed": ("Packages whose index page could not be fetched or read.", "failed"),
        "packages_stale": ("Packages whose index page was older than already seen (stale cache).", "stale"),
    }
    for name, (documentation, attribute) in per_index.items():
        metric = gauge(name, documentation, "index")
        for index in report.indexes:
            metric.labels(index=index.url).set(getattr(index, attribute))

    index_up = gauge("index_up", "Whether an index answered in the last run (1) or failed as a whole (0).", "index")
    for index in report.indexes:
        index_up.labels(index=index.url).set(1 if index.usable else 0)

    new_by_index: Counter[str] = Counter({index.url: 0 for index in report.indexes})
    new_by_index.update({feed.index_url: 0 for feed in report.feeds})
    new_by_index.update(report.new_releases.by_index)
    new_releases = gauge("new_releases", "Releases recorded (in a dry run: found) by the last run, by index.", "index")
    for url, count in new_by_index.items():
        new_releases.labels(index=url).set(count)

    events = gauge(
        "events", "Release events found by the last run (in a dry run: that it would record), by kind.", "kind"
    )
    for kind, count in report.events.counts().items():
        events.labels(kind=kind).set(count)

    feed_items = gauge("feed_items", "Items read from a feed in the last run.", "feed")
    feed_new = gauge("feed_new_releases", "Releases first seen in a feed in the last run.", "feed")
    feed_up = gauge("feed_up", "Whether a feed could be read in the last run (1) or not (0).", "feed")
    for feed in report.feeds:
        feed_items.labels(feed=feed.url).set(feed.items)
        feed_new.labels(feed=feed.url).set(feed.new_releases)
        feed_up.labels(feed=feed.url).set(0 if feed.error else 1)

    notifications = gauge(
        "notifications",
        "Notifications sent and failed in the last run; pending and dead in the outbox after it.",
        "state",
    )
    counts = report.notifications
    for state in ("sent", "failed", "pending", "dead"):
        notifications.labels(state=state).set(getattr(counts, state))

    gauge("errors", "Errors (per package, index or feed) reported by the last run.").set(len(report.errors))
    finished = report.finished_at or datetime.now(UTC)
    gauge("run_duration_seconds", "How long the last run took.").set(
        max((finished - report.started_at).total_seconds(), 0.0)
    )
    succeeded = report.succeeded
    gauge("run_success", "Whether the last run completed with at least one usable index (1) or not (0).").set(
        1 if succeeded else 0
    )
    last = report.finished_at if succeeded else last_success
    if last is not None:
        gauge("last_success_timestamp_seconds", "When the last successful run ended (Unix time).").set(last.timestamp())

    Info(
        PREFIX, "The package-releases job: its version, thoth-storages' version, the deployment.", registry=registry
    ).info(
        {
            "version": __version__,
            "thoth_storages_version": distribution_version("thoth-storages") or "unknown",
            "deployment": environ.get("THOTH_DEPLOYMENT_NAME", ""),
        }
    )
    return registry


def publish(
    report: RunReport,
    *,
    environ: Mapping[str, str],
    metrics_file: Path | None,
    shard: str,
    last_success: Callable[[], datetime | None],
) -> None:
    """Push the run's metrics to the configured push gateway and/or write them to ``metrics_file``; never raises.

    A dry or skipped run pushes nothing: it must not replace the metrics of the real runs. ``last_success``
    is asked only when there is something to publish. Failures are logged as warnings.
    """
    url = None if report.dry_run or report.skipped else pushgateway_url(environ)
    if url is None and metrics_file is None:
        return
    registry = build_registry(report, environ=environ, last_success=last_success())
    if url is not None:
        push_error = push(registry, url, grouping_key={"shard": shard}, environ=environ)
        if push_error:
            _JOB_LOGGER.warning("%s", push_error)
    if metrics_file is not None:
        try:
            write_file(registry, metrics_file)
        except OSError as error:
            _JOB_LOGGER.warning("Could not write metrics to %s: %s", metrics_file, error.strerror)


def pushgateway_url(environ: Mapping[str, str]) -> str | None:
    """Return the push gateway to push to, from the environment, or None when none is configured.

    ``PROMETHEUS_PUSHGATEWAY_URL`` wins; otherwise ``PROMETHEUS_PUSHGATEWAY_HOST``, followed by
    ``:PROMETHEUS_PUSHGATEWAY_PORT`` when that is set (the 2019 job's variables).
    """
    url = environ.get("PROMETHEUS_PUSHGATEWAY_URL", "").strip()
    if url:
        return url
    host = environ.get("PROMETHEUS_PUSHGATEWAY_HOST", "").strip()
    if not host:
        return None
    port = environ.get("PROMETHEUS_PUSHGATEWAY_PORT", "").strip()
    return f"{host}:{port}" if port else host


def push(
    registry: CollectorRegistry,
    url: str,
    *,
    grouping_key: Mapping[str, str],
    timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Replace the metrics of job ``package-releases`` and this grouping key on a push gateway with the registry's.

    ``url`` is ``host:port`` or an http(s) URL, possibly with credentials (sent as basic authentication);
    proxies and the CA bundle come from ``environ`` (default: the process environment). Returns None on
    success, or one line saying why the push failed (passwords masked; not logged here); never raises.
    """
    shown = mask_url(url)
    try:
        gateway, handler = _gateway(url, os.environ if environ is None else environ)
        push_to_gateway(
            gateway, job=JOB_NAME, registry=registry, grouping_key=dict(grouping_key), timeout=timeout, handler=handler
        )
    except RequestFailed as failure:
        return one_line(f"cannot push metrics to {shown}: {failure.reason}")
    except Exception as error:  # any failure of the push is reported, none may end the run
        return one_line(f"cannot push metrics to {shown}: {describe_failure(error)}")
    _LOGGER.info("Pushed metrics to %s (job %s, %s)", shown, JOB_NAME, dict(grouping_key))
    return None


def write_file(registry: CollectorRegistry, path: Path) -> None:
    """Write the registry to a file in Prometheus' text exposition format (atomically: written, then renamed)."""
    write_to_textfile(str(path), registry)


def _gateway(url: str, environ: Mapping[str, str]) -> tuple[str, _Handler]:
    """Return the gateway URL without credentials, and the request handler that sends the push (with them, if any)."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    auth: tuple[str, str] | None = None
    bare = url
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            with new_session(environ) as session:
                # The whole push is bounded by the timeout; a redirect of a PUT is not followed.
                response = http.send(
                    session, method, url, headers=dict(headers), data=data, timeout=timeout or 10.0, auth=auth
                )
                if response.status >= 300:
                    # Worded as urllib (prometheus_client's own handler) words it, as the logs always had it.
                    raise requests.HTTPError(f"HTTP Error {response.status}: {response.reason}".strip())

        return send

    return bare, handler
