"""Scale-out: app.py run as N shards at once against one knowledge graph, compared with one unsharded run.

Every shard checks only the names whose stable hash falls into it, holds its own advisory lock and delivers
only its own packages' notifications; together the shards must do exactly what one unsharded run does, with
nothing inserted, reported or sent twice. Concurrency is made certain, not hoped for: the test holds a
database lock the shards need while recording, waits until every shard is blocked on it, then lets them race.

The tests at the end cover state that shards could wrongly share: the project listing's validators (kept
per shard) and the outbox (a shard's notifications must not wait behind another shard's backlog).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest

from tests.e2e.conftest import App, AppResult, KnowledgeGraph, WriteConfig, index_config
from tests.support.app import Running
from tests.support.graph import STATE
from tests.support.postgres import PostgresForTests
from tests.support.servers import (
    FeedServer,
    IndexServer,
    PushGatewayStandIn,
    WebhookReceiver,
    normalize,
    rss_updates,
)
from thoth.package_releases.releases import shard_of
from thoth.package_releases.store.state_schema import STATE_MIGRATIONS

pytestmark = pytest.mark.e2e

SHARDS = 3
PROJECTS = 60
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "2.0.0rc1", "2.0.0")  # as published; all already PEP 440 normal
TRIGGER_SPECIFIER = ">=1.0.1"  # pre-releases excluded (the trigger's default): 1.0.1, 1.1.0, 2.0.0 (+ feed's 3.0.0)
FEED_VERSION = "3.0.0"  # announced by the feed only, not on the index pages
MONITORED_PER_SHARD = 2
ABSENT_MONITORED = "Absent_Monitored"  # monitored but not on the index: checked, 404
KNOWN_ABSENT = "known-but-absent"  # known to the graph (seen mode) but not on the index
GATE_TIMEOUT = 45.0


def expected_shard(name: str, count: int) -> int:
    """The shard of a normalized name, re-derived here: first 8 bytes of its SHA-256, big-endian, modulo count."""
    if count <= 1:
        return 0
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:16], 16) % count


def display_name(i: int) -> str:
    """How project ``i`` is spelled on the index: every third one un-normalized (normalizes to shard-test-NN)."""
    return f"Shard_Test.{i:02d}" if i % 3 == 0 else f"shard-test-{i:02d}"


PROJECT_NAMES = [normalize(display_name(i)) for i in range(1, PROJECTS + 1)]
SHARD_NAMES = {s: [n for n in PROJECT_NAMES if expected_shard(n, SHARDS) == s] for s in range(SHARDS)}
MONITORED = sorted(name for s in range(SHARDS) for name in SHARD_NAMES[s][:MONITORED_PER_SHARD])
# The feed announces FEED_VERSION of one monitored and one unmonitored project of every shard (un-normalized).
FEED_NAMES = sorted(name for s in range(SHARDS) for name in (SHARD_NAMES[s][0], SHARD_NAMES[s][MONITORED_PER_SHARD]))
# Seen mode: the graph knows every even project (with a version recorded on no index) and one absent name.
SEEDED_NAMES = sorted([n for i, n in enumerate(PROJECT_NAMES, 1) if i % 2 == 0] + [KNOWN_ABSENT])
SEEDED_VERSION = "0.1.0"


def _matches_trigger(version: str) -> bool:
    """TRIGGER_SPECIFIER, spelled out for the versions used here (no pre-releases)."""
    return version in {"1.0.1", "1.1.0", "2.0.0", FEED_VERSION}


# -- processes run at the same time -------------------------------------------------------------------------


def shard_args(index: int, count: int = SHARDS) -> tuple[str, ...]:
    return ("--shard-index", str(index), "--shard-count", str(count))


def wait_for_waiters(database_url: str, count: int, processes: Sequence[Running[AppResult]]) -> None:
    """Wait until ``count`` job connections are blocked on a lock; fail early when a process exits instead."""
    deadline = time.monotonic() + GATE_TIMEOUT
    # pg_stat_activity is cached for a whole transaction: KnowledgeGraph reads it fresh every time.
    while KnowledgeGraph(database_url).job_lock_waiters() < count:
        for running in processes:
            if not running.running():
                pytest.fail(f"a job exited before reaching the gate\n{running.wait()}")
        if time.monotonic() > deadline:
            outputs = "\n".join(running.stderr_so_far() for running in processes)
            pytest.fail(f"{count} jobs never blocked on the gate in {GATE_TIMEOUT} s\n{outputs}")
        time.sleep(0.05)


def open_transaction(database_url: str, *statements: tuple[str, Sequence[object]]) -> psycopg2.extensions.connection:
    """Run statements in a transaction left open (its locks held) until the caller rolls it back."""
    conn = psycopg2.connect(database_url)
    with conn.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, tuple(params))
    return conn


def run_shards_together(
    app: App, database_url: str, *args: str, env: Mapping[str, str] | None = None
) -> list[AppResult]:
    """Run every shard at once and make sure they really overlap.

    The gate, a SHARE lock on the page-state table (which every scan chunk's transaction writes), stops each
    shard in the middle of its first chunk with its advisory lock held; once all of them wait there, they are
    released together and race through the remaining chunks. Note that every shard has read the project
    listing by then: staggered shards are another matter (see the listing-state tests below).
    """
    gate = open_transaction(database_url, (f"LOCK TABLE {STATE}.page_state IN SHARE MODE", ()))
    try:
        running = [
            app.start(*args, *shard_args(i), database_url=database_url, env=env, quiet=True) for i in range(SHARDS)
        ]
        wait_for_waiters(database_url, SHARDS, running)
    finally:
        gate.rollback()
        gate.close()
    return [r.wait() for r in running]


# -- servers, databases, configuration ------------------------------------------------------------------------


@pytest.fixture
def index() -> Iterator[IndexServer]:
    with IndexServer({display_name(i): VERSIONS for i in range(1, PROJECTS + 1)}) as server:
        yield server


@pytest.fixture
def other_kg(postgres: PostgresForTests) -> Iterator[KnowledgeGraph]:
    """A second fresh database, for the unsharded reference run."""
    url = postgres.create_database()
    yield KnowledgeGraph(url)
    postgres.drop_database(url)


@pytest.fixture
def hooks() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    """Receivers for the sharded runs and for the unsharded reference run."""
    with WebhookReceiver() as sharded, WebhookReceiver() as single:
        yield sharded, single


@pytest.fixture
def gateway() -> Iterator[PushGatewayStandIn]:
    with PushGatewayStandIn() as server:
        yield server


def sharding_config(index_url: str, *, only_if_package_seen: bool, hook_url: str, feed_url: str) -> str:
    """One index, one feed, the monitored packages (configured un-normalized) with a trigger each."""
    lines = [
        "indexes:",
        f"  - url: {index_url}",
        f"    only_if_package_seen: {'true' if only_if_package_seen else 'false'}",
        "feeds:",
        f"  - url: {feed_url}",
        f"    index_url: {index_url}",
        "packages:",
    ]
    for name in [*MONITORED, normalize(ABSENT_MONITORED)]:
        spelled = name.replace("-", "_").title() if name != normalize(ABSENT_MONITORED) else ABSENT_MONITORED
        lines += [
            f"  {spelled}:",
            "    triggers:",
            f"      - url: {hook_url}/hook/{{package_name}}/{{package_version}}",
            f"        version_specifier: '{TRIGGER_SPECIFIER}'",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Expected:
    """What a complete run over the index must produce, derived from the test's own model."""

    checked: int  # packages checked on the index (the scan)
    rows: list[tuple[str, str, str | None]]  # every version entity, sorted
    new: set[tuple[str, str, str]]  # releases the run inserts
    notifications: set[tuple[str, str]]  # (name, version) the trigger fires for


def expected_outcome(index_url: str, *, seen_mode: bool) -> Expected:
    monitored = {*MONITORED, normalize(ABSENT_MONITORED)}
    if seen_mode:
        names = set(SEEDED_NAMES) | monitored
        feed_names = [n for n in FEED_NAMES if n in names]
    else:
        names = set(PROJECT_NAMES) | monitored
        feed_names = list(FEED_NAMES)
    on_index = names & set(PROJECT_NAMES)
    new = {(name, version, index_url) for name in on_index for version in VERSIONS}
    new |= {(name, FEED_VERSION, index_url) for name in feed_names}
    seeded = {(name, SEEDED_VERSION, None) for name in SEEDED_NAMES} if seen_mode else set()
    notifications = {(name, version) for name, version, _ in new if name in monitored and _matches_trigger(version)}
    return Expected(len(names), sorted(new | seeded), new, notifications)


def duplicated_entities(kg: KnowledgeGraph) -> list[tuple[Any, ...]]:
    return kg.query(
        "SELECT package_name, package_version, python_package_index_id, count(*)"
        " FROM python_package_version_entity GROUP BY 1, 2, 3 HAVING count(*) > 1"
    )


def deliveries(receiver: WebhookReceiver) -> list[tuple[str, str, str]]:
    """(method, path, body) of every request the receiver got, in arrival order."""
    return [(r.method, r.path, r.text) for r in receiver.requests]


def release_names(result: AppResult) -> set[str]:
    return {name for name, _, _ in result.new_releases} | {name for name, _, _ in result.errors if name}


# -- N concurrent shards == one unsharded run ------------------------------------------------------------------


@pytest.mark.parametrize("seen_mode", [False, True], ids=["listing-drives-names", "known-names-seeded"])
def test_concurrent_shards_do_exactly_what_one_unsharded_run_does(
    app: App,
    kg: KnowledgeGraph,
    other_kg: KnowledgeGraph,
    write_config: WriteConfig,
    index: IndexServer,
    hooks: tuple[WebhookReceiver, WebhookReceiver],
    gateway: PushGatewayStandIn,
    seen_mode: bool,
) -> None:
    url = index.base_url
    sharded_hook, single_hook = hooks
    with FeedServer() as feed:
        feed_url = feed.set(
            "/rss/updates.xml", rss_updates([(n.replace("-", "_").upper(), FEED_VERSION) for n in FEED_NAMES])
        )
        if seen_mode:
            for graph in (kg, other_kg):
                for name in SEEDED_NAMES:
                    graph.add_entity(name, SEEDED_VERSION)
        expected = expected_outcome(url, seen_mode=seen_mode)
        sharded_config = write_config(
            sharding_config(url, only_if_package_seen=seen_mode, hook_url=sharded_hook.url, feed_url=feed_url),
            "sharded.yaml",
        )
        single_config = write_config(
            sharding_config(url, only_if_package_seen=seen_mode, hook_url=single_hook.url, feed_url=feed_url),
            "single.yaml",
        )

        # The reference: one unsharded run on its own database.
        single = app("--config", single_config, database_url=other_kg.url)
        assert single.code == 0, single

        # Three shards at once, all in flight together (see run_shards_together).
        shards = run_shards_together(
            app,
            kg.url,
            "--config",
            sharded_config,
            "--chunk-size",
            "4",
            env={"PROMETHEUS_PUSHGATEWAY_URL": gateway.url},
        )

    # The reference run did what the model says.
    assert single.report is not None
    assert single.report["shard"] == {"index": 0, "count": 1}
    assert single.errors == []
    assert single.index(url)["packages_checked"] == expected.checked
    assert set(single.new_releases) == expected.new
    assert len(single.new_releases) == len(expected.new)
    assert other_kg.entities() == expected.rows

    for i, result in enumerate(shards):
        assert result.code == 0, result
        assert result.report is not None, result
        assert result.report["shard"] == {"index": i, "count": SHARDS}, result
        assert result.report["succeeded"] is True, result
        assert result.report["skipped"] is None, result
        assert result.errors == [], result
        # Only names of its own shard in its report.
        foreign = {name for name in release_names(result) if shard_of(name, SHARDS) != i}
        assert foreign == set(), f"shard {i} reported names of other shards: {sorted(foreign)}\n{result}"
        assert f"(shard {i + 1} of {SHARDS})" in result.summary

    # Together, exactly the unsharded run: same rows, same new releases, each once.
    assert kg.entities() == other_kg.entities() == expected.rows
    assert duplicated_entities(kg) == []
    union = Counter(release for result in shards for release in result.new_releases)
    assert [release for release, times in union.items() if times > 1] == []
    assert set(union) == set(single.new_releases)
    assert sum(result.index(url)["packages_checked"] for result in shards) == single.index(url)["packages_checked"]
    assert sum(result.index(url)["not_found"] for result in shards) == single.index(url)["not_found"]
    assert [len(r.new_releases) for r in shards] == [
        sum(1 for name, _, _ in expected.new if shard_of(name, SHARDS) == i) for i in range(SHARDS)
    ]

    # Every notification queued once and delivered exactly once, by the shard owning the package.
    assert kg.outbox() == other_kg.outbox() == sorted((n, v, "sent", 1) for n, v in expected.notifications)
    sent = deliveries(sharded_hook)
    assert len(sent) == len(expected.notifications)
    assert len(set(sent)) == len(sent), f"duplicate deliveries: {Counter(sent).most_common(3)}"
    assert len({body for _, _, body in sent}) == len(sent)
    assert {(m, p) for m, p, _ in sent} == {("POST", f"/hook/{n}/{v}") for n, v in expected.notifications}
    assert sorted(sent) == sorted(deliveries(single_hook))
    assert [r.report["notifications"]["sent"] for r in shards if r.report] == [
        sum(1 for name, _ in expected.notifications if shard_of(name, SHARDS) == i) for i in range(SHARDS)
    ]
    assert sharded_hook.errors == []
    assert index.errors == []

    # Each shard left one successful line in the run history and pushed its metrics, under its own label.
    assert kg.query(f"SELECT shard, succeeded FROM {STATE}.run ORDER BY shard") == [
        (f"{i}/{SHARDS}", True) for i in range(SHARDS)
    ]
    assert sorted(push.labels["shard"] for push in gateway.pushes) == [f"{i}/{SHARDS}" for i in range(SHARDS)]
    assert len({push.job for push in gateway.pushes}) == 1


# -- the shard from the environment, bad shard options --------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "args", "shard"),
    [
        pytest.param({"JOB_COMPLETION_INDEX": "1"}, (), 1, id="kubernetes-completion-index"),
        pytest.param(
            {"JOB_COMPLETION_INDEX": "1", "THOTH_PACKAGE_RELEASES_SHARD_INDEX": "2"}, (), 2, id="own-variable-first"
        ),
        pytest.param({"JOB_COMPLETION_INDEX": "1"}, ("--shard-index", "0"), 0, id="option-over-environment"),
    ],
)
def test_shard_comes_from_the_environment(
    app: App,
    kg: KnowledgeGraph,
    write_config: WriteConfig,
    index: IndexServer,
    env: dict[str, str],
    args: tuple[str, ...],
    shard: int,
) -> None:
    url = index.base_url
    config = write_config(index_config(url, only_if_package_seen=False))

    result = app("--config", config, *args, database_url=kg.url, env={"THOTH_PACKAGE_RELEASES_SHARD_COUNT": "3", **env})

    assert result.code == 0, result
    assert result.report is not None
    assert result.report["shard"] == {"index": shard, "count": 3}
    assert result.index(url)["packages_checked"] == len(SHARD_NAMES[shard])
    assert {name for name, _, _ in result.new_releases} == set(SHARD_NAMES[shard])
    assert {name for name, _, _ in result.new_releases if shard_of(name, 3) != shard} == set()
    assert {name for name, _, _ in kg.entities()} == set(SHARD_NAMES[shard])
    assert f"(shard {shard + 1} of 3)" in result.summary


@pytest.mark.parametrize(
    ("args", "env", "hint"),
    [
        pytest.param(("--shard-index", "3", "--shard-count", "3"), {}, "--shard-index", id="index-equals-count"),
        pytest.param(
            (), {"JOB_COMPLETION_INDEX": "3", "THOTH_PACKAGE_RELEASES_SHARD_COUNT": "3"}, "--shard-index", id="env"
        ),
    ],
)
def test_shard_outside_the_count_is_a_usage_error(
    app: App,
    kg: KnowledgeGraph,
    write_config: WriteConfig,
    index: IndexServer,
    args: tuple[str, ...],
    env: dict[str, str],
    hint: str,
) -> None:
    config = write_config(index_config(index.base_url, only_if_package_seen=False))

    result = app("--config", config, *args, database_url=kg.url, env=env)

    assert result.code == 2, result
    assert hint in result.stderr, result
    assert "Traceback" not in result.stderr
    assert result.report_text is None
    assert kg.indexes() == []
    assert kg.entities() == []
    assert index.requests == []


# -- the state schema, created by whichever shard starts first -------------------------------------------------

MIGRATION_LOCK = (zlib.crc32(b"thoth-package-releases-job") & 0x7FFFFFFF, 0)  # what a state migration waits for


def test_shards_starting_at_once_on_a_database_without_state_schema_create_it_once_and_all_succeed(
    app: App, write_config: WriteConfig, index: IndexServer, storages_database_url: str
) -> None:
    url = index.base_url
    kg = KnowledgeGraph(storages_database_url)
    config = write_config(index_config(url, only_if_package_seen=False))
    # The gate: the state migration's lock, held here until every shard waits to create the schema.
    gate = psycopg2.connect(storages_database_url)
    gate.autocommit = True
    try:
        with gate.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
        running = [
            app.start("--config", config, *shard_args(i), database_url=storages_database_url, quiet=True)
            for i in range(SHARDS)
        ]
        wait_for_waiters(storages_database_url, SHARDS, running)
    finally:
        gate.close()
    results = [r.wait() for r in running]

    for result in results:
        assert result.code == 0, result
    migrations = range(1, len(STATE_MIGRATIONS) + 1)
    assert kg.query(f"SELECT version FROM {STATE}.schema_version ORDER BY version") == [(v,) for v in migrations]
    inserted = Counter(release for result in results for release in result.new_releases)
    assert sorted(inserted) == sorted((name, v, url) for name in PROJECT_NAMES for v in VERSIONS)
    assert set(inserted.values()) == {1}
    assert sorted(kg.rows(url)) == sorted((name, v) for name in PROJECT_NAMES for v in VERSIONS)


# -- the advisory lock is per shard ------------------------------------------------------------------------------


def test_same_shard_twice_is_skipped_while_other_shards_run(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer, gateway: PushGatewayStandIn
) -> None:
    url = index.base_url
    config = write_config(index_config(url, only_if_package_seen=False))
    held = SHARD_NAMES[0][0]
    # An uncommitted page-state row of a shard-0 project: shard 0's run blocks when it records that project
    # (advisory lock held), while shard 1 never touches it.
    env = {"PROMETHEUS_PUSHGATEWAY_URL": gateway.url}
    blocker = open_transaction(
        kg.url, (f"INSERT INTO {STATE}.page_state (index_url, project) VALUES (%s, %s)", (url, held))
    )
    try:
        first = app.start("--config", config, *shard_args(0), database_url=kg.url, env=env, quiet=True)
        wait_for_waiters(kg.url, 1, [first])

        second = app.start("--config", config, *shard_args(0), database_url=kg.url, env=env, quiet=True)
        other = app.start("--config", config, *shard_args(1), database_url=kg.url, env=env, quiet=True)
        skipped, parallel = second.wait(), other.wait()

        assert first.running(), "shard 0's first run should still be blocked"
        assert kg.job_lock_waiters() == 1
    finally:
        blocker.rollback()
        blocker.close()
    done = first.wait()

    assert skipped.code == 0, skipped
    assert skipped.report is not None
    assert skipped.report["shard"] == {"index": 0, "count": SHARDS}
    assert skipped.report["skipped"], skipped
    assert "lock" in skipped.report["skipped"]
    assert skipped.report["indexes"] == []
    assert skipped.new_releases == []
    assert skipped.summary.startswith(f"Package releases (shard 1 of {SHARDS}): skipped"), skipped.summary

    assert parallel.code == 0, parallel
    assert parallel.report is not None
    assert parallel.report["skipped"] is None
    assert {name for name, _, _ in parallel.new_releases} == set(SHARD_NAMES[1])

    assert done.code == 0, done
    assert done.report is not None
    assert done.report["skipped"] is None
    assert {name for name, _, _ in done.new_releases} == set(SHARD_NAMES[0])

    assert kg.entities() == sorted(
        (name, version, url) for s in (0, 1) for name in SHARD_NAMES[s] for version in VERSIONS
    )
    # The skipped run left no history; the two that ran did, one per shard.
    assert kg.query(f"SELECT shard, succeeded FROM {STATE}.run ORDER BY shard") == [
        (f"0/{SHARDS}", True),
        (f"1/{SHARDS}", True),
    ]
    # ... and pushed no metrics (which would replace the running shard's), the two that ran did.
    assert sorted(push.labels["shard"] for push in gateway.pushes) == [f"0/{SHARDS}", f"1/{SHARDS}"]


# -- the hash itself -------------------------------------------------------------------------------------------

# Derived outside the job, with coreutils and bc:
#   h=$(printf '%s' NAME | sha256sum | cut -c1-16); echo "ibase=16; $(echo $h | tr a-f A-F) % 3" | bc
# (the first 8 bytes of SHA-256 of the UTF-8 name, as a big-endian integer, modulo the shard count).
# A change here reassigns packages between shards: pending notifications move with them, so it must be deliberate.
HASHED_NAMES = [
    # name, first 16 hex digits of its SHA-256, shard of 3, shard of 7
    ("click", "e5c7ffac26fed654", 2, 5),
    ("thoth-storages", "5b428e3773e35464", 1, 0),
    ("zope-interface", "9ff48d991c910b44", 1, 6),
    ("pkg-00001", "28d7b30d2d7d96e2", 0, 2),
    ("pip", "fed5038bf2f427ab", 0, 6),
    ("django", "7d8a0838ce8e19b2", 2, 1),
    ("attrs", "118ec0153d297ea0", 1, 1),
    ("urllib3", "4e08df8645a52a3f", 2, 0),
    ("wheel", "ba59926159d2aa25", 1, 2),
]


@pytest.mark.parametrize(("name", "prefix", "of_3", "of_7"), HASHED_NAMES)
def test_shard_of_is_the_sha256_prefix_modulo_the_count(name: str, prefix: str, of_3: int, of_7: int) -> None:
    assert hashlib.sha256(name.encode()).hexdigest()[:16] == prefix
    assert int(prefix, 16) % 3 == of_3
    assert int(prefix, 16) % 7 == of_7
    assert shard_of(name, 3) == of_3
    assert shard_of(name, 7) == of_7
    assert shard_of(name, 1) == 0


# -- state shared between shards: known bugs ----------------------------------------------------------------


def test_shards_run_one_after_another_find_what_one_unsharded_run_does(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer
) -> None:
    # An Indexed Job with parallelism below its completions runs its shards one after another.
    url = index.base_url
    config = write_config(index_config(url, only_if_package_seen=False))

    results = [app("--config", config, *shard_args(i), database_url=kg.url) for i in range(SHARDS)]

    assert [r.code for r in results] == [0] * SHARDS, results
    assert [r.index(url)["packages_checked"] for r in results] == [len(SHARD_NAMES[i]) for i in range(SHARDS)]
    assert kg.entities() == sorted((name, version, url) for name in PROJECT_NAMES for version in VERSIONS)


def test_changes_between_rounds_are_found_whichever_shard_runs_first(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer
) -> None:
    url = index.base_url
    config = write_config(index_config(url, only_if_package_seen=False))
    first_round = run_shards_together(app, kg.url, "--config", config)
    assert [r.code for r in first_round] == [0] * SHARDS, first_round
    assert kg.entities() == sorted((name, version, url) for name in PROJECT_NAMES for version in VERSIONS)
    # Between the rounds: a new project of shard 1 and a new release of a project of shard 2.
    added = next(name for i in range(100) if expected_shard(name := f"late-project-{i}", SHARDS) == 1)
    index.add_project(added, ["0.1.0"])
    bumped = SHARD_NAMES[2][0]
    index.publish(bumped, "9.0.0")

    # Round 2: shard 0 is done first, then the two others run.
    early = app.start("--config", config, *shard_args(0), database_url=kg.url, quiet=True).wait()
    late = [app.start("--config", config, *shard_args(i), database_url=kg.url, quiet=True) for i in (1, 2)]
    results = [early, *(r.wait() for r in late)]

    assert [r.code for r in results] == [0] * SHARDS, results
    assert {(name, version) for r in results for name, version, _ in r.new_releases} == {
        (added, "0.1.0"),
        (bumped, "9.0.0"),
    }


def test_a_backlog_of_other_shards_does_not_starve_a_shards_notifications(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, index: IndexServer
) -> None:
    url = index.base_url
    mine, theirs = SHARD_NAMES[1][0], SHARD_NAMES[0][0]
    # Older entries of a shard-0 package, still pending (e.g. its receiver has been down).
    kg.execute(
        f"INSERT INTO {STATE}.outbox (trigger_key, package_name, package_version, index_url)"
        " SELECT 'backlog', %s, '0.0.' || n, %s FROM generate_series(1, 10000) AS n",
        (theirs, url),
    )
    with WebhookReceiver() as hook:
        config = write_config(
            f"indexes:\n  - url: {url}\n    only_if_package_seen: true\n"
            f"packages:\n  {mine}:\n    triggers:\n      - url: {hook.url}/hook/{{package_name}}/{{package_version}}\n"
        )

        result = app("--config", config, *shard_args(1), database_url=kg.url)

        assert result.code == 0, result
        assert {name for name, _, _ in result.new_releases} == {mine}
        stable = sorted(v for v in VERSIONS if "rc" not in v)
        assert sorted(r.path for r in hook.requests) == sorted(f"/hook/{mine}/{v}" for v in stable)
    assert kg.query(
        f"SELECT status, count(*) FROM {STATE}.outbox WHERE package_name = %s GROUP BY status", (mine,)
    ) == [("sent", len(stable))]
