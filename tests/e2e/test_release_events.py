"""End-to-end tests of issue 13: release events detected from the project pages the scan reads.

Every test runs ``app.py`` as a process against a synthetic index (:mod:`tests.support.servers`) whose pages
change between runs (:mod:`tests.support.servers.mutations`), and a fresh database where the rows other Thoth
services write (solved ``python_package_version`` rows, artifacts) are written with plain SQL
(:mod:`tests.support.graph_versions`). Each checks the report's ``events`` and ``event_counts``, the graph's
``is_missing`` flags, and the webhooks: exactly one per event for a trigger subscribed to its kind, with the
default payload, and none for a trigger left at the default (``new_release`` only).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import App, AppResult, KnowledgeGraph, WriteConfig, index_config
from tests.support.graph import STATE
from tests.support.graph_versions import (
    FEDORA38_PY311,
    RHEL9_PY311,
    add_artifacts,
    add_package_version,
    artifact_hashes,
    missing_flags,
    table_snapshot,
)
from tests.support.servers import FeedServer, IndexServer, RecordedRequest, WebhookReceiver, rss_updates
from thoth.package_releases.values import EVENT_KINDS

pytestmark = pytest.mark.e2e

APP_TIMEOUT = 120.0
PKG = "events-pkg"
METRIC = "thoth_package_releases"
OTHER = "quiet-pkg"  # monitored too, never changed: it must never show up in an event


RunApp = Callable[..., AppResult]


@pytest.fixture
def run_app(app: App, database_url: str) -> RunApp:
    """Run app.py to completion on the test's database, quietly."""
    return functools.partial(app, database_url=database_url, quiet=True, timeout=APP_TIMEOUT)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


# -- configuration, expectations -------------------------------------------------------------------------------


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


# -- one test per kind ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("formats", [("json", "html"), ("html",)], ids=["json", "html"])
def test_a_release_yanked_then_unyanked_keeps_the_reason(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, formats: tuple[str, ...]
) -> None:
    model = {PKG: ["1.0", "2.0", "3.0"], OTHER: ["0.1"]}
    with IndexServer(model, formats=formats) as index:
        url = index.base_url
        config = write_config(events_config(url, ["yanked", "unyanked"]))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "1.0", url)
        flags = missing_flags(kg, url)

        index.yank(PKG, "1.0", "broken metadata: use 1.0.1")
        index.yank(PKG, "2.0")  # no reason given
        changed_run(
            run_app,
            config,
            receiver,
            [
                event("yanked", "1.0", url, {"reason": "broken metadata: use 1.0.1"}),
                event("yanked", "2.0", url, {"reason": None}),
            ],
        )

        index.unyank(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("unyanked", "1.0", url)])
        index.yank(PKG, "1.0", "broken again")  # an event of its own, delivered again
        changed_run(run_app, config, receiver, [event("yanked", "1.0", url, {"reason": "broken again"})])
        assert missing_flags(kg, url) == flags  # a yank is no removal
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)


def test_a_wheel_added_to_a_known_release(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["new_files"]))
        first_run(run_app, config, receiver, url, model)

        index.add_file(PKG, "2.0")  # a platform wheel, days after the release
        index.add_file(PKG, "2.0", f"{PKG.replace('-', '_')}-2.0-cp312-cp312-win_amd64.whl")
        added = [{"filename": name, "sha256": sha256} for name, sha256, _ in index.release_files(PKG, "2.0")[2:]]
        assert len(added) == 2
        changed_run(run_app, config, receiver, [event("new_files", "2.0", url, {"files": added})])
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)


@pytest.mark.parametrize("strategy", ["projects", "listing"])
def test_a_version_removed_then_restored_sets_then_clears_is_missing(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, strategy: str
) -> None:
    run_app = functools.partial(run_app, "--scan-strategy", strategy)
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["missing_version", "reappeared"]))
        first_run(run_app, config, receiver, url, model)
        for environment in (RHEL9_PY311, FEDORA38_PY311):  # solved in two environments: both rows are flagged
            add_package_version(kg, PKG, "1.0", url, environment)
        add_package_version(kg, PKG, "2.0", url)
        add_package_version(kg, OTHER, "0.1", url)
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False, False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}

        index.remove_version(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("missing_version", "1.0", url)])
        assert missing_flags(kg, url) == {(PKG, "1.0"): [True, True], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)  # rows are never deleted

        index.restore_version(PKG, "1.0")
        changed_run(run_app, config, receiver, [event("reappeared", "1.0", url)])  # no new_release: the row is there
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False, False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}
        assert kg.count("python_package_version_entity") == 3


@pytest.mark.parametrize("strategy", ["projects", "listing"])
def test_a_project_removed_from_the_index_then_restored(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, strategy: str
) -> None:
    # The listing strategy requests a project the listing lost because it was found before: its 404 is seen.
    run_app = functools.partial(run_app, "--scan-strategy", strategy)
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        # The trigger's version specifier does not apply to an event that has no version; it does to the others.
        config = write_config(events_config(url, ["missing_package", "reappeared"], specifier=">=2.0"))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "1.0", url)
        add_package_version(kg, PKG, "2.0", url)
        add_package_version(kg, OTHER, "0.1", url)

        index.remove_project(PKG)
        changed_run(run_app, config, receiver, [event("missing_package", None, url)])
        # Every version of the project is missing from the index: each is flagged, as a missing version is.
        assert missing_flags(kg, url) == {(PKG, "1.0"): [True], (PKG, "2.0"): [True], (OTHER, "0.1"): [False]}
        assert kg.entities() == sorted((n, v, url) for n, vs in model.items() for v in vs)

        # Still gone: the event is not repeated, nothing is written again.
        changed_run(run_app, config, receiver, [])

        index.restore_project(PKG)
        back = [event("reappeared", "1.0", url), event("reappeared", "2.0", url)]
        changed_run(run_app, config, receiver, back, delivered=back[1:])
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False], (PKG, "2.0"): [False], (OTHER, "0.1"): [False]}


def test_a_file_hash_changed_against_the_graph_artifacts(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["hash_mismatch"]))
        first_run(run_app, config, receiver, url, model)
        # package-extract and the solvers recorded the artifacts as the index served them.
        for version in ("1.0", "2.0"):
            add_package_version(kg, PKG, version, url)
            add_artifacts(kg, PKG, version, url, [sha256 for _, sha256, _ in index.release_files(PKG, version)])
        (sdist, old, _), (_, wheel, _) = index.release_files(PKG, "1.0")
        artifacts = kg.count("python_artifact")

        new = "0" * 63 + "1"
        index.change_sha256(PKG, sdist, new)
        changed_run(
            run_app,
            config,
            receiver,
            [event("hash_mismatch", "1.0", url, {"missing_on_index": [old], "missing_in_graph": [new]})],
        )
        # The job reads artifacts, never writes them; nor does a mismatch flag the version missing.
        assert artifact_hashes(kg, PKG, "1.0", url) == sorted([old, wheel])
        assert kg.count("python_artifact") == artifacts
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False], (PKG, "2.0"): [False]}


# -- first run, steady run, default triggers -----------------------------------------------------------------------


def test_a_first_run_on_a_fresh_graph_emits_only_new_releases(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0", "3.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        # The index's history before the job ever read it: a yank, a late wheel, a changed hash, a removal.
        index.yank(PKG, "1.0", "old yank")
        index.add_file(PKG, "2.0")
        index.change_sha256(PKG, f"{PKG}-2.0.tar.gz")
        index.remove_version(PKG, "3.0")
        kinds = [kind for kind in EVENT_KINDS if kind != "new_release"]
        config = write_config(events_config(url, kinds))

        run = run_app("--config", config, env=env_for(receiver))

        versions = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
        assert_events(run, [event("new_release", v, url, name=n) for n, vs in versions.items() for v in vs])
        assert sorted(r.path for r in receiver.requests) == [f"/release/{PKG}/1.0", f"/release/{PKG}/2.0"]
        assert kg.entities() == sorted((n, v, url) for n, vs in versions.items() for v in vs)


def test_a_steady_run_emits_nothing_and_writes_nothing(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0", "3.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        kinds = [kind for kind in EVENT_KINDS if kind != "new_release"]
        config = write_config(events_config(url, kinds))
        first_run(run_app, config, receiver, url, model)
        for version in model[PKG]:
            add_package_version(kg, PKG, version, url)
            add_artifacts(kg, PKG, version, url, [sha256 for _, sha256, _ in index.release_files(PKG, version)])
        # One run of changes, so that the steady run starts from yanked, missing and mismatched releases.
        index.yank(PKG, "1.0", "bad")
        index.remove_version(PKG, "2.0")
        (sdist, old, _), _ = index.release_files(PKG, "3.0")
        index.change_sha256(PKG, sdist, "f" * 64)
        changed_run(
            run_app,
            config,
            receiver,
            [
                event("yanked", "1.0", url, {"reason": "bad"}),
                event("missing_version", "2.0", url),
                event("hash_mismatch", "3.0", url, {"missing_on_index": [old], "missing_in_graph": ["f" * 64]}),
            ],
        )
        before = table_snapshot(kg, skip=[f"{STATE}.run"])
        runs = kg.count(f"{STATE}.run")

        steady = run_app("--config", config, env=env_for(receiver))

        assert_events(steady, [])
        assert steady.new_releases == []
        assert receiver.requests == []
        assert steady.notifications == {"sent": 0, "failed": 0, "pending": 0, "dead": 0}
        assert table_snapshot(kg, skip=[f"{STATE}.run"]) == before  # not a row written, not even rewritten
        assert kg.count(f"{STATE}.run") == runs + 1  # the run's history row only


def test_a_trigger_without_events_fires_only_for_new_releases(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    model = {PKG: ["1.0", "2.0", "3.0"]}
    with IndexServer(model) as index:
        url = index.base_url
        # A subscriber to every kind beside the trigger at the default: one delivery per event, all in one run.
        config = write_config(events_config(url, list(EVENT_KINDS)))
        run = run_app("--config", config, env=env_for(receiver))
        firsts = [event("new_release", v, url) for v in model[PKG]]
        assert_events(run, firsts)
        assert Counter(r.path for r in receiver.requests) == Counter(
            [f"/event/new_release/{PKG}"] * 3 + [f"/release/{PKG}/{v}" for v in model[PKG]]
        )
        receiver.clear_requests()
        for version in model[PKG]:
            add_package_version(kg, PKG, version, url)  # solved, no artifacts recorded: no hash to compare

        index.yank(PKG, "1.0")
        index.add_file(PKG, "2.0", sha256="e" * 64)
        index.remove_version(PKG, "3.0")
        index.publish(PKG, "4.0")
        wheel = index.release_files(PKG, "2.0")[-1][0]
        metrics = tmp_path / "metrics.prom"
        run = run_app("--config", config, "--metrics-file", str(metrics), env=env_for(receiver))

        expected = [
            event("yanked", "1.0", url, {"reason": None}),
            event("new_files", "2.0", url, {"files": [{"filename": wheel, "sha256": "e" * 64}]}),
            event("missing_version", "3.0", url),
            event("new_release", "4.0", url),
        ]
        assert_events(run, expected)
        counts = Counter(entry["kind"] for entry in expected)
        (family,) = [f for f in text_string_to_metric_families(metrics.read_text()) if f.name == f"{METRIC}_events"]
        assert {s.labels["kind"]: s.value for s in family.samples} == {k: float(counts[k]) for k in EVENT_KINDS}
        default = [r for r in receiver.requests if r.path.startswith("/release/")]
        assert [r.path for r in default] == [f"/release/{PKG}/4.0"]
        body = default[0].json()
        assert {k: body[k] for k in ("package_name", "package_version", "index_url")} == {
            "package_name": PKG,
            "package_version": "4.0",
            "index_url": url,
        }
        assert body.get("event", "new_release") == "new_release"
        assert_webhooks([r for r in receiver.requests if not r.path.startswith("/release/")], expected)
        assert missing_flags(kg, url) == {(PKG, "1.0"): [False], (PKG, "2.0"): [False], (PKG, "3.0"): [True]}


# -- dry runs, feeds, durable delivery, all-packages mode ----------------------------------------------------------


def test_a_dry_run_reports_the_events_and_neither_writes_nor_delivers(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["yanked", "missing_version"]))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "2.0", url)
        index.yank(PKG, "1.0", "dry")
        index.remove_version(PKG, "2.0")
        expected = [event("yanked", "1.0", url, {"reason": "dry"}), event("missing_version", "2.0", url)]
        before = table_snapshot(kg, skip=[f"{STATE}.run"])

        dry = run_app("--config", config, "--dry-run", env=env_for(receiver))

        assert_events(dry, expected)
        assert receiver.requests == []
        assert table_snapshot(kg, skip=[f"{STATE}.run"]) == before
        assert missing_flags(kg, url)[(PKG, "2.0")] == [False]
        # The real run finds the same events: the dry run remembered nothing.
        changed_run(run_app, config, receiver, expected)
        assert missing_flags(kg, url)[(PKG, "2.0")] == [True]


def test_the_feeds_carry_only_new_releases(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index, FeedServer() as feeds:
        url = index.base_url
        updates = feeds.set("/rss/updates.xml", rss_updates([]))
        kinds = [kind for kind in EVENT_KINDS if kind != "new_release"]
        config = write_config(
            events_config(url, kinds).replace(
                "packages:", f"feeds:\n  - {{url: {updates}, index_url: {url}}}\npackages:", 1
            )
        )
        first_run(run_app, config, receiver, url, model)
        index.yank(PKG, "1.0", "not in any feed")
        index.publish(PKG, "2.0")
        feeds.set("/rss/updates.xml", rss_updates([(PKG, "2.0")]))

        from_feeds = run_app("--config", config, "--feeds", "--no-scan", env=env_for(receiver))

        assert_events(from_feeds, [event("new_release", "2.0", url)])
        assert [r.path for r in receiver.requests] == [f"/release/{PKG}/2.0"]
        receiver.clear_requests()
        # The scan reads the page and finds the yank (2.0 is no longer new).
        changed_run(run_app, config, receiver, [event("yanked", "1.0", url, {"reason": "not in any feed"})])


def test_an_event_waits_in_the_outbox_while_the_receiver_is_down(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["new_files"]))
        first_run(run_app, config, receiver, url, model)
        index.add_file(PKG, "1.0", sha256="9" * 64)
        wheel = index.release_files(PKG, "1.0")[-1][0]
        expected = [event("new_files", "1.0", url, {"files": [{"filename": wheel, "sha256": "9" * 64}]})]
        receiver.down()

        down = run_app("--config", config, env=env_for(receiver))

        assert_events(down, expected)
        assert down.notifications == {"sent": 0, "failed": 1, "pending": 1, "dead": 0}
        receiver.up()
        later = run_app("--config", config, env=env_for(receiver))

        assert_events(later, [])  # the event was found once; its delivery waited, kind and details with it
        assert_webhooks(receiver.requests, expected)
        assert later.notifications == {"sent": 1, "failed": 0, "pending": 0, "dead": 0}


def test_a_project_dropped_from_the_listing_in_all_packages_mode(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0"], OTHER: ["0.1"], "unmonitored-pkg": ["3.0"]}
    with IndexServer(model) as index:
        url = index.base_url
        text = events_config(url, ["missing_package"]).replace(
            "only_if_package_seen: true", "only_if_package_seen: false"
        )
        config = write_config(text)
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, "unmonitored-pkg", "3.0", url)

        index.remove_project("unmonitored-pkg")  # gone from its page and from the listing, as PyPI does
        run = run_app("--config", config, env=env_for(receiver))

        assert_events(run, [event("missing_package", None, url, name="unmonitored-pkg")])
        assert missing_flags(kg, url) == {("unmonitored-pkg", "3.0"): [True]}


@pytest.mark.parametrize("status", [500, 403], ids=["server-error", "forbidden"])
def test_a_page_that_fails_is_no_removal(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, status: int
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        kinds = [kind for kind in EVENT_KINDS if kind != "new_release"]
        config = write_config(events_config(url, kinds))
        first_run(run_app, config, receiver, url, model)
        add_package_version(kg, PKG, "1.0", url)
        before = table_snapshot(kg, skip=[f"{STATE}.run"])
        index.fail(PKG, status=status, times=None)

        run = run_app("--config", config, env=env_for(receiver))

        assert run.code == 0, run
        assert [(name, where) for name, where, _ in run.errors] == [(PKG, url)]
        assert run.report["events"] == []
        assert receiver.requests == []
        assert table_snapshot(kg, skip=[f"{STATE}.run"]) == before
        # Once the page is back unchanged, nothing happened to the project.
        index.clear_faults()
        changed_run(run_app, config, receiver, [])


def test_a_project_never_found_on_the_index_is_never_missing(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        kinds = [kind for kind in EVENT_KINDS if kind != "new_release"]
        config = write_config(events_config(url, kinds))
        index_id = kg.add_index(url)
        kg.add_entity("ghost-pkg", "1.0", index_id)  # in the graph on this index, never on its pages
        add_package_version(kg, "ghost-pkg", "1.0", url)

        first = run_app("--config", config, env=env_for(receiver))
        assert_events(first, [event("new_release", v, url, name=n) for n, vs in model.items() for v in vs])
        again = run_app("--config", config, env=env_for(receiver))
        assert_events(again, [])
        assert first.index(url)["not_found"] == again.index(url)["not_found"] == 1
        assert missing_flags(kg, url)[("ghost-pkg", "1.0")] == [False]
        assert [r.path for r in receiver.requests] == [f"/release/{PKG}/1.0"]
