"""Deployment rehearsal: the templates in openshift/ run as written, on a knowledge graph like a Thoth cluster's.

Every template that runs the job is rendered with its defaults (:mod:`tests.support.openshift`, the semantics of
``oc process``), and each pod's container is run here as a process with its ``command``, ``args`` and ``env``
exactly as rendered: the ConfigMap and Secret references resolve against a namespace of test values (Thoth's
``thoth`` ConfigMap and Secret pointing at the test PostgreSQL on 127.0.0.1, and the job's configuration
ConfigMap rendered from configmap-template.yaml with a thoth.yaml naming a local index and its feed); only the
image's paths are mapped to this machine (the module's docstring says which). The database is brought to
thoth-storages' head by thoth-storages' own alembic migrations and never touched by the job before.

The operator's sequence (README, "Deployment"): the one-off migrate-only Job, then the CronJobs. Each CronJob's
first run exits 0 and inserts the index's releases (the feed-only one: those its feed announces), a second run
inserts nothing; the sharded Indexed Job runs all its pods (every ``JOB_COMPLETION_INDEX``) at once, held together
at the index until all are in flight. The CronJobs are also rehearsed on the untouched database without the migrate
Job, the day-one mistake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support.app import AppOutput, Launcher
from tests.support.graph import STATE, KnowledgeGraph
from tests.support.openshift import OPENSHIFT, Namespace, Workload, container_process, rendered, workloads
from tests.support.postgres import PostgresForTests
from tests.support.servers import LISTING, FeedServer, IndexServer, normalize, rss_updates
from tests.support.tcp_relay import tcp_address

pytestmark = pytest.mark.e2e

# Names spread over the four shards of the sharded template's default SHARD_COUNT (checked below).
PROJECTS = {
    "Rehearsal_Alpha": ["1.0.0", "1.1.0"],
    "rehearsal-beta": ["0.9.0"],
    "Rehearsal.Gamma": ["2.0.0", "2.1.0", "3.0.0"],
    "rehearsal-delta": ["1.0.0"],
    "rehearsal-epsilon": ["0.1.0", "0.2.0"],
    "Rehearsal-Zeta": ["5.0.0"],
    "rehearsal-eta": ["1.2.3"],
    "rehearsal-theta": ["4.0.0", "4.0.1"],
}
RELEASES = sorted((normalize(name), version) for name, versions in PROJECTS.items() for version in versions)
# The feed announces each project's newest release, as PyPI's updates feed does; the scan finds the others.
FEED_ITEMS = [(name, versions[-1]) for name, versions in PROJECTS.items()]
FEED_RELEASES = sorted((normalize(name), version) for name, version in FEED_ITEMS)

MIGRATE = ("migrate-job-template.yaml", "package-releases-migrate")
# Each workload: (template, Job or CronJob name, what its first run inserts: from the feed, from the scan).
WORKLOADS = {
    "full-run": ("cronjob-template.yaml", "package-releases", len(FEED_RELEASES), len(RELEASES) - len(FEED_RELEASES)),
    "feed-only-run": ("cronjob-template.yaml", "package-releases-feeds", len(FEED_RELEASES), 0),
    "sharded-run": ("sharded-job-template.yaml", "package-releases-sharded", 0, len(RELEASES)),
}
POD_TIMEOUT = 120.0


def rendered_workload(template: str, name: str) -> Workload:
    """The Job or CronJob ``name`` of a template rendered with its defaults."""
    (found,) = [workload for workload in workloads(rendered(template)) if workload.name == name]
    return found


@dataclass(frozen=True)
class Pod:
    """What one pod's container did: its exit code, output and the JSON report it printed."""

    completion_index: int | None
    output: AppOutput

    @property
    def report(self) -> dict[str, Any]:
        """The report the job printed on standard output (THOTH_PACKAGE_RELEASES_REPORT=-)."""
        parsed: dict[str, Any] = json.loads(self.output.stdout)
        return parsed

    @property
    def new_releases(self) -> list[tuple[str, str]]:
        """The report's new releases as (name, version)."""
        return [(r["package_name"], r["package_version"]) for r in self.report["new_releases"]]


class Deployment:
    """A namespace with Thoth's ConfigMap and Secret and the job's configuration, and the pods run in it."""

    def __init__(self, namespace: Namespace, kg: KnowledgeGraph, index: IndexServer, folder: Path) -> None:
        self.namespace = namespace
        self.kg = kg
        self.index = index
        self.folder = folder
        self.launcher = Launcher(folder, AppOutput)
        self._pods = 0

    def run(self, template: str, name: str) -> list[Pod]:
        """One run of a Job or CronJob: all its pods at once (an Indexed Job's held together at the index)."""
        workload = rendered_workload(template, name)
        indexes = workload.completion_indexes
        assert workload.parallelism >= len(indexes), "the rehearsal runs every pod of an Indexed Job at once"
        gate = self.index.hold(LISTING) if len(indexes) > 1 else None
        try:
            running = []
            for completion_index in indexes:
                self._pods += 1
                pod_folder = self.folder / f"pod-{self._pods}"
                process = container_process(workload, self.namespace, pod_folder, completion_index)
                running.append(
                    self.launcher.launch(
                        process.args, report=False, env=process.env, cwd=process.cwd, program=process.command
                    )
                )
            if gate is not None:
                # Every shard in flight at once: each is held at the project listing until all of them are.
                gate.wait_held(len(indexes), alive=lambda: all(r.running() for r in running))
        finally:
            if gate is not None:
                gate.release()
        pods = [Pod(i, r.wait(POD_TIMEOUT)) for i, r in zip(indexes, running, strict=True)]
        for pod in pods:
            assert "Traceback (most recent call last)" not in pod.output.stderr, pod.output
        return pods

    def cleanup(self) -> None:
        """Kill whatever pod is still running."""
        self.launcher.cleanup()


def thoth_yaml(index_url: str, feed_url: str) -> str:
    """The job's configuration for the rehearsal: the local index, its feed, every project of it checked."""
    return (
        f"indexes:\n  - url: {index_url}\n    only_if_package_seen: false\n"
        f"feeds:\n  - url: {feed_url}\n    index_url: {index_url}\n"
        "packages: {}\n"
    )


@pytest.fixture
def deployment(postgres: PostgresForTests, storages_database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A namespace whose knowledge graph is at thoth-storages' head, untouched by the job, on 127.0.0.1."""
    database = urlsplit(storages_database_url).path.lstrip("/")
    with (
        tcp_address(postgres.server_url) as address,
        IndexServer(PROJECTS) as index,
        FeedServer() as feed,
    ):
        feed_url = feed.set("/rss/updates.xml", rss_updates(FEED_ITEMS))
        (config,) = rendered("configmap-template.yaml", THOTH_YAML=thoth_yaml(index.base_url, feed_url))
        namespace = Namespace(
            configmaps={
                "thoth": {
                    "postgresql-host": address.host,
                    "postgresql-port": str(address.port),
                    "postgresql-database": database,
                },
                config["metadata"]["name"]: config["data"],
            },
            secrets={"thoth": {"postgresql-user": address.user, "postgresql-password": address.password}},
        )
        running = Deployment(namespace, KnowledgeGraph(storages_database_url), index, tmp_path)
        yield running
        running.cleanup()


def test_the_rehearsal_covers_every_job_and_cronjob_of_the_templates() -> None:
    found = {
        (path.name, workload.name) for path in OPENSHIFT.glob("*.yaml") for workload in workloads(rendered(path.name))
    }
    assert found == {MIGRATE, *((template, name) for template, name, _, _ in WORKLOADS.values())}


def assert_migrated(deployment: Deployment) -> None:
    """The migrate Job's result: the state schema, the configured index registered, no release, no run."""
    kg = deployment.kg
    assert kg.table_exists(f"{STATE}.run")
    assert kg.indexes() == [(deployment.index.base_url, True, False)]
    assert kg.entities() == []
    assert kg.count(f"{STATE}.run") == 0


def test_the_migrate_job_prepares_the_untouched_database_and_can_run_again(deployment: Deployment) -> None:
    assert not deployment.kg.table_exists(f"{STATE}.run"), "the database starts untouched by the job"

    (first,) = deployment.run(*MIGRATE)

    assert first.output.code == 0, first.output
    assert f"Registered 1 new index(es): {deployment.index.base_url}." in first.output.stderr, first.output
    assert_migrated(deployment)
    assert deployment.index.requests == [], "a migration reads no index"

    (again,) = deployment.run(*MIGRATE)

    assert again.output.code == 0, again.output
    assert "Registered no new index (1 configured, all already registered)." in again.output.stderr, again.output
    assert_migrated(deployment)


@pytest.mark.parametrize("migrate_first", [True, False], ids=["after-the-migrate-job", "without-the-migrate-job"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_a_cronjob_inserts_the_index_releases_then_nothing(
    deployment: Deployment, workload: str, migrate_first: bool
) -> None:
    template, name, from_feeds, from_scan = WORKLOADS[workload]
    url = deployment.index.base_url
    if migrate_first:
        (migration,) = deployment.run(*MIGRATE)
        assert migration.output.code == 0, migration.output
        assert_migrated(deployment)

    first = deployment.run(template, name)

    for pod in first:
        assert pod.output.code == 0, pod.output
        assert pod.report["succeeded"] is True, pod.output
        assert pod.report["errors"] == [], pod.output
    expected = FEED_RELEASES if from_scan == 0 else RELEASES
    inserted = sorted(release for pod in first for release in pod.new_releases)
    assert inserted == expected, "each release inserted once, by one pod"
    assert sorted(deployment.kg.rows(url)) == expected
    assert sum(feed["new_releases"] for pod in first for feed in pod.report["feeds"]) == from_feeds
    assert sum(index["new_releases"] for pod in first for index in pod.report["indexes"]) == from_scan
    if len(first) > 1:
        shards = [pod.report["shard"] for pod in first]
        assert shards == [{"index": i, "count": len(first)} for i in range(len(first))]
        assert all(pod.new_releases for pod in first), "every shard had releases of its own to insert"

    second = deployment.run(template, name)

    for pod in second:
        assert pod.output.code == 0, pod.output
        assert pod.report["skipped"] is None, pod.output
        assert pod.new_releases == [], pod.output
    assert sorted(deployment.kg.rows(url)) == expected
    runs = deployment.kg.query(f"SELECT shard, succeeded FROM {STATE}.run ORDER BY started_at")
    assert [succeeded for _, succeeded in runs] == [True] * (len(first) + len(second))
