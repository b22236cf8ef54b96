"""End-to-end tests of issue 13 across runs: the first run, a steady run, default triggers, dry runs, the feeds,
durable delivery, and what is no event (a failing page, a project never found).

As in :mod:`tests.e2e.test_release_events`: ``app.py`` as a process, a synthetic index changed between runs,
the graph read and written with plain SQL. Shared parts: :mod:`tests.e2e.release_events`.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import KnowledgeGraph, WriteConfig
from tests.e2e.release_events import (
    CHANGE_KINDS,
    METRIC,
    OTHER,
    PKG,
    RunApp,
    assert_events,
    assert_webhooks,
    changed_run,
    env_for,
    event,
    events_config,
    first_run,
)
from tests.support.graph import STATE
from tests.support.graph_versions import (
    add_artifacts,
    add_package_version,
    missing_flags,
    table_snapshot,
)
from tests.support.servers import FeedServer, IndexServer, WebhookReceiver, rss_updates
from thoth.package_releases.values import EVENT_KINDS

pytestmark = pytest.mark.e2e


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
        kinds = CHANGE_KINDS
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
        kinds = CHANGE_KINDS
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
        kinds = CHANGE_KINDS
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


@pytest.mark.parametrize("status", [500, 403], ids=["server-error", "forbidden"])
def test_a_page_that_fails_is_no_removal(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver, status: int
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        kinds = CHANGE_KINDS
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
        kinds = CHANGE_KINDS
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


def test_sharded_runs_each_report_the_events_of_their_own_projects(
    run_app: RunApp, kg: KnowledgeGraph, write_config: WriteConfig, receiver: WebhookReceiver
) -> None:
    model = {PKG: ["1.0", "2.0"], OTHER: ["0.1"]}
    with IndexServer(model) as index:
        url = index.base_url
        config = write_config(events_config(url, ["yanked"]))
        shards = [functools.partial(run_app, "--shard-count", "2", "--shard-index", str(i)) for i in range(2)]
        firsts = [shard("--config", config, env=env_for(receiver)) for shard in shards]
        assert sorted(e["package_name"] for run in firsts for e in run.report["events"]) == sorted([OTHER, PKG, PKG])
        receiver.clear_requests()

        index.yank(PKG, "2.0", "sharded")
        index.yank(OTHER, "0.1", "no trigger")
        runs = [shard("--config", config, env=env_for(receiver)) for shard in shards]

        found = [(e["kind"], e["package_name"]) for run in runs for e in run.report["events"]]
        assert sorted(found) == sorted([("yanked", OTHER), ("yanked", PKG)])  # each by its shard, once
        assert_webhooks(receiver.requests, [event("yanked", "2.0", url, {"reason": "sharded"})])
