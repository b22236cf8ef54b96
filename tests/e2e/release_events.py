"""What the release-event e2e tests share (issue 13): the configuration, the expected events, the checks.

A configuration names two monitored packages: PKG, whose pages the tests change, with a trigger subscribed to the
kinds under test (``{event}`` in its URL) and a trigger left at the default (``new_release`` only); and OTHER,
never changed, which must never show up in an event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tests.e2e.conftest import AppResult, index_config
from tests.support.servers import RecordedRequest, WebhookReceiver
from thoth.package_releases.values import EVENT_KINDS

APP_TIMEOUT = 120.0
PKG = "events-pkg"
OTHER = "quiet-pkg"
METRIC = "thoth_package_releases"
# Every kind a scan can find beside new releases.
CHANGE_KINDS = [kind for kind in EVENT_KINDS if kind != "new_release"]

from tests.e2e.conftest import RunApp as RunApp  # noqa: E402


def events_config(index_url: str, kinds: Sequence[str], *, specifier: str | None = None) -> str:
    """PKG with a trigger subscribed to ``kinds`` and a trigger left at the default; OTHER with none."""
    spec = f'\n{" " * 18}version_specifier: "{specifier}"' if specifier else ""  # at the indent of events:
    return index_config(
        index_url,
        packages=f"""\
            {PKG}:
              triggers:
                - url: "{{THOTH_TRIGGER_WEBHOOK}}/event/{{event}}/{{package_name}}"
                  events: [{", ".join(kinds)}]{spec}
                - url: "{{THOTH_TRIGGER_WEBHOOK}}/release/{{package_name}}/{{package_version}}"
            {OTHER}: {{}}
            """,
    )


def env_for(receiver: WebhookReceiver) -> dict[str, str]:
    return {"THOTH_TRIGGER_WEBHOOK": receiver.url}


def event(
    kind: str, version: str | None, url: str, details: dict[str, Any] | None = None, name: str = PKG
) -> dict[str, Any]:
    """An event as the report lists it."""
    return {
        "kind": kind,
        "package_name": name,
        "package_version": version,
        "index_url": url,
        "details": details or {},
    }


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (entry["kind"], entry["package_name"], entry["package_version"] or "")


def assert_events(run: AppResult, expected: Sequence[dict[str, Any]]) -> None:
    """The report's events (in any order) and counts by kind (every kind, zeros included); the summary lines."""
    assert run.code == 0, run
    assert run.report["errors"] == [], run
    assert sorted(run.report["events"], key=_key) == sorted(expected, key=_key), run.report["events"]
    counts = Counter(entry["kind"] for entry in expected)
    assert run.report["event_counts"] == {kind: counts.get(kind, 0) for kind in EVENT_KINDS}
    for kind in EVENT_KINDS[1:]:  # the new releases have their own summary line
        line = f"  {kind}: {counts[kind]}\n"
        assert (line in run.stderr) == (counts[kind] > 0), (kind, run.stderr)


def assert_webhooks(requests: Sequence[RecordedRequest], expected: Sequence[dict[str, Any]]) -> None:
    """Exactly one POST per event to the subscribed trigger, with the default payload; nothing else."""
    received = Counter((r.method, r.path) for r in requests)
    wanted = Counter(("POST", f"/event/{e['kind']}/{e['package_name']}") for e in expected)
    assert received == wanted, sorted(received)
    bodies = sorted((r.json() for r in requests), key=lambda body: (body["event"], body["package_version"] or ""))
    payloads = [
        {
            "event": e["kind"],
            "package_name": e["package_name"],
            "package_version": e["package_version"],
            "index_url": e["index_url"],
            "details": e["details"],
        }
        for e in expected
    ]
    assert bodies == sorted(payloads, key=lambda body: (body["event"], body["package_version"] or ""))
    assert all(r.status == 200 for r in requests)


def first_run(run_app: RunApp, config: str, receiver: WebhookReceiver, url: str, model: dict[str, list[str]]) -> None:
    """The first run on a fresh graph: a new_release per release, nothing else; the default trigger fires for PKG's."""
    run = run_app("--config", config, env=env_for(receiver))
    expected = [event("new_release", v, url, name=name) for name, versions in model.items() for v in versions]
    assert_events(run, expected)
    assert sorted(r.path for r in receiver.requests) == sorted(f"/release/{PKG}/{v}" for v in model[PKG])
    receiver.clear_requests()


def changed_run(
    run_app: RunApp,
    config: str,
    receiver: WebhookReceiver,
    expected: Sequence[dict[str, Any]],
    delivered: Sequence[dict[str, Any]] | None = None,
) -> None:
    """A run after the index changed: exactly these events, each of ``delivered`` (default: all) sent once."""
    run = run_app("--config", config, env=env_for(receiver))
    assert_events(run, expected)
    delivered = expected if delivered is None else delivered
    assert_webhooks(receiver.requests, delivered)
    assert run.notifications == {"sent": len(delivered), "failed": 0, "pending": 0, "dead": 0}
    receiver.clear_requests()
