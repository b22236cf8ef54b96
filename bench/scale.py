"""The scale set of the benchmark (issue 14): a PyPI-sized index, a graph knowing 100,000 of its projects.

One index process serves ``--scale-projects`` projects (600,000) of ``--scale-versions`` versions each, pages
rendered when first asked for (``--page-cache`` of them kept), a gzip JSON listing with a ``_last-serial`` per
project. Two databases, each a copy of the migrated template:

* ``seen`` (``only_if_package_seen: true``), seeded in bulk (``execute_values``, not timed) with
  ``--scale-known`` names (100,000, spread evenly over the listing) on a disabled index: a first run
  (populates the job's state), a steady run (nothing changed), a run after ``--scale-changed`` (1,000) known
  projects got one new version each; then the same steady and changed runs with ``--scan-strategy projects``
  (another 1,000 changed), beside the first ones;
* ``all`` (``only_if_package_seen: false``): a first run as ``--scale-shards`` (8) shards one after another,
  then unsharded steady runs: the first reads the listing again (its shard has no listing state yet; every
  project is skipped by its serial), the second gets a ``304`` for it.

Before the runs, the crossover of ``--scan-strategy auto`` is measured (``bench/crossover.py``) at each of
``--crossover-latencies`` (an index process of its own per latency but the runs').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import run
from bench.run import (
    NEW_VERSION,
    IndexProcess,
    Postgres,
    RunResult,
    Scenario,
    ScenarioDatabase,
    one_line,
    run_job,
    write_config,
)
from tests.support.servers import synthetic_projects

TARGET_SEEN_STEADY_S = 10.0
TARGET_SEEN_STEADY_RSS_MB = 300.0
TARGET_SEEN_CHANGED_S = 20.0
TARGET_ALL_STEADY_S = 15.0
CROSSOVER_COPY = "bench_crossover.py"
SECOND_VERSION = "9.1.0"  # the version published on the projects of the second change (strategy projects)


@dataclass(frozen=True)
class ScaleOptions:
    """The sizes of the scale set."""

    projects: int
    known: int
    changed: int
    shards: int
    versions: int
    latency_ms: float
    page_cache: int
    crossover_latencies: tuple[float, ...]
    crossover_sizes: tuple[int, int]
    crossover_repeat: int
    parts: tuple[str, ...] = ("seen", "all")


@dataclass
class ScaleStep:
    """One job run of the scale set: what it is, what it must insert and how fast, and what it cost."""

    part: str  # "seen" or "all"
    name: str
    asked: str | None  # the --scan-strategy given; None: the job's default
    result: RunResult
    expected_rows: int | None
    target_wall_s: float | None = None
    target_rss_mb: float | None = None


@dataclass
class ScaleOutcome:
    """Everything the scale set measured."""

    options: ScaleOptions
    steps: list[ScaleStep] = field(default_factory=list)
    crossovers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    strategy_supported: bool = False
    published: int = 0  # releases published on the index after it started


def options_from(args: argparse.Namespace) -> ScaleOptions:
    """The scale set's sizes from the command line."""
    sizes = tuple(args.crossover_sizes)
    return ScaleOptions(
        projects=args.scale_projects,
        known=min(args.scale_known, args.scale_projects),
        changed=min(args.scale_changed, args.scale_known // 2),
        shards=args.scale_shards,
        versions=args.scale_versions,
        latency_ms=args.scale_latency,
        page_cache=args.page_cache,
        crossover_latencies=tuple(args.crossover_latencies),
        crossover_sizes=(int(sizes[0]), int(sizes[1])),
        crossover_repeat=args.crossover_repeat,
        parts=tuple(args.scale_parts),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The scale set's options."""
    group = parser.add_argument_group("scale set (issue 14)")
    group.add_argument("--scale", action="store_true", help="run only the scale set")
    group.add_argument("--no-scale", action="store_true", help="skip the scale set")
    group.add_argument("--no-crossover", action="store_true", help="skip the crossover measurement")
    group.add_argument("--scale-projects", type=int, default=600_000, help="projects on the index (600000)")
    group.add_argument("--scale-known", type=int, default=100_000, help="projects the graph knows (100000)")
    group.add_argument("--scale-changed", type=int, default=1_000, help="known projects changed (1000)")
    group.add_argument("--scale-shards", type=int, default=8, help="shards of the all-packages first run (8)")
    group.add_argument("--scale-versions", type=int, default=2, help="versions per project (2)")
    group.add_argument("--scale-latency", type=float, default=0.0, help="index latency of the runs, ms (0)")
    group.add_argument(
        "--scale-parts",
        type=lambda v: [p.strip() for p in v.split(",") if p.strip() in ("seen", "all")],
        default=["seen", "all"],
        help="which parts of the scale set run: seen (known packages), all (all-packages mode) (seen,all)",
    )
    group.add_argument("--page-cache", type=int, default=20_000, help="pages the index keeps rendered (20000)")
    group.add_argument(
        "--crossover-latencies",
        type=lambda v: [float(p) for p in v.split(",") if p.strip()],
        default=[0.0, 25.0],
        help="latencies of the crossover measurement, ms (0,25)",
    )
    group.add_argument(
        "--crossover-sizes",
        type=lambda v: [int(p) for p in v.split(",") if p.strip()],
        default=[2000, 8000],
        help="the two numbers of conditional requests whose difference gives one request's cost (2000,8000)",
    )
    group.add_argument("--crossover-repeat", type=int, default=3, help="medians of N measurements (3)")


def _strategy_supported(code_root: Path) -> bool:
    cli = code_root / "thoth" / "package_releases" / "cli.py"
    return cli.exists() and "scan-strategy" in cli.read_text(encoding="utf-8")


def measure_crossover(index: IndexProcess, options: ScaleOptions, latency_ms: float) -> dict[str, Any]:
    """Run bench/crossover.py with the job's code against an index; return its figures (and the load)."""
    small, large = options.crossover_sizes
    env = dict(os.environ, PYTHONPATH=str(run.CODE.root), NO_PROXY="127.0.0.1,localhost")
    load = os.getloadavg()
    script = run.CODE.root / CROSSOVER_COPY
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            *("--index-url", index.base_url, "--sizes", f"{small},{large}"),
            *("--repeat", str(options.crossover_repeat)),
        ],
        cwd=run.CODE.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"latency_ms": latency_ms, "error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures.update(latency_ms=latency_ms, load=[round(x, 2) for x in load])
    return figures


def _index(options: ScaleOptions, latency_ms: float) -> IndexProcess:
    scenario = Scenario("seen", options.projects, options.versions, latency_ms, "json")
    return IndexProcess(scenario, warm=False, page_cache=options.page_cache)


def _check(step: ScaleStep) -> None:
    result = step.result
    if result.exit_code != 0:
        result.problems.append(f"exit code {result.exit_code}")
    if step.expected_rows is not None:
        if result.inserted != step.expected_rows:
            result.problems.append(f"inserted {result.inserted} rows, expected {step.expected_rows}")
        if result.report_new is not None and result.report_new != step.expected_rows:
            result.problems.append(f"report lists {result.report_new} new releases, expected {step.expected_rows}")
    elif result.report_new is not None and result.report_new != result.inserted:
        result.problems.append(f"report lists {result.report_new} new releases, {result.inserted} rows inserted")
    if result.failed:
        result.problems.append(f"{result.failed} packages failed")
    if step.target_wall_s is not None and result.wall_s > step.target_wall_s:
        result.misses.append(f"wall {result.wall_s:.2f} s > target {step.target_wall_s:g} s")
    if step.target_rss_mb is not None and result.peak_rss_mb > step.target_rss_mb:
        result.misses.append(f"peak RSS {result.peak_rss_mb:.0f} MB > target {step.target_rss_mb:g} MB")


class _Runner:
    """Runs the steps of one part against one database and index, printing a line per run."""

    def __init__(
        self, outcome: ScaleOutcome, part: str, database: ScenarioDatabase, index: IndexProcess, config: Path
    ) -> None:
        self.outcome, self.part, self.database, self.index, self.config = outcome, part, database, index, config

    def step(
        self,
        kind: str,
        name: str,
        *,
        postgres: Postgres,
        workdir: Path,
        args: argparse.Namespace,
        asked: str | None = None,
        expected: int | None = None,
        wall: float | None = None,
        rss: float | None = None,
        extra: Sequence[str] = (),
    ) -> ScaleStep:
        options = self.outcome.options
        scenario = Scenario(self.part, options.projects, options.versions, options.latency_ms, "json")
        strategy = ["--scan-strategy", asked] if asked and self.outcome.strategy_supported else []
        self.index.warm_listing()  # rendered by the index before the run: PyPI's CDN serves it ready-made
        result = RunResult(scenario, 1, kind)
        run_job(
            result,
            database=self.database,
            postgres=postgres,
            server=self.index,
            config=self.config,
            workdir=workdir,
            concurrency=args.concurrency,
            timeout=args.run_timeout,
            extra_args=[*strategy, *extra, *args.job_args],
            wrapper=args.wrapper,
        )
        step = ScaleStep(self.part, name, asked, result, expected, wall, rss)
        _check(step)
        self.outcome.steps.append(step)
        print(f"   {self.part} {name}: " + one_line(result), flush=True)
        for problem in result.problems:
            print(f"   FAIL scale {self.part} / {name}: {problem}", flush=True)
        for miss in result.misses:
            print(f"   MISS scale {self.part} / {name}: {miss}", flush=True)
        return step


def _spread(names: Sequence[str], count: int, offset: int = 0) -> list[str]:
    """``count`` names spread evenly over ``names``, starting at ``offset``."""
    step = max(1, len(names) // max(1, count))
    return list(names[offset::step][:count])


def as_json(outcome: ScaleOutcome) -> dict[str, Any]:
    """Every figure of the scale set, for the results' JSON file."""
    return {
        "options": asdict(outcome.options),
        "notes": outcome.notes,
        "crossovers": outcome.crossovers,
        "steps": [
            {k: v for k, v in asdict(step).items() if k != "result"}
            | {"result": asdict(step.result) | {"inserted": step.result.inserted}}
            for step in outcome.steps
        ],
    }


def run_scale(
    outcome: ScaleOutcome, *, postgres: Postgres, workdir: Path, args: argparse.Namespace, db_counter: Iterator[int]
) -> None:
    """Run the crossover measurement and the scale set's job runs, filling ``outcome`` as they end."""
    options = outcome.options
    outcome.strategy_supported = _strategy_supported(run.CODE.root)
    # Copied now, like the job's code: edits made while the benchmark runs do not change what it measures.
    shutil.copy2(Path(__file__).resolve().parent / "crossover.py", run.CODE.root / CROSSOVER_COPY)
    if not outcome.strategy_supported:
        outcome.notes.append("the job's code has no --scan-strategy: the runs use its only strategy")
    print(f"\n== scale set: {options}", flush=True)
    started = time.perf_counter()
    index = _index(options, options.latency_ms)
    try:
        outcome.notes.append(f"index of {options.projects} projects ready in {time.perf_counter() - started:.1f} s")
        print(f"   {outcome.notes[-1]}", flush=True)
        if not args.no_crossover and options.latency_ms in options.crossover_latencies:
            outcome.crossovers.append(measure_crossover(index, options, options.latency_ms))
            print(f"   crossover: {outcome.crossovers[-1]}", flush=True)
        names = list(synthetic_projects(options.projects, 0))
        if "seen" in options.parts:
            _seen_part(outcome, index, names, postgres=postgres, workdir=workdir, args=args, db_counter=db_counter)
        if "all" in options.parts:
            _all_part(outcome, index, postgres=postgres, workdir=workdir, args=args, db_counter=db_counter)
    finally:
        index.stop()
    for latency in options.crossover_latencies:
        if args.no_crossover or latency == options.latency_ms:
            continue
        other = _index(options, latency)
        try:
            outcome.crossovers.append(measure_crossover(other, options, latency))
            print(f"   crossover: {outcome.crossovers[-1]}", flush=True)
        finally:
            other.stop()


def _seen_part(
    outcome: ScaleOutcome,
    index: IndexProcess,
    names: Sequence[str],
    *,
    postgres: Postgres,
    workdir: Path,
    args: argparse.Namespace,
    db_counter: Iterator[int],
) -> None:
    options = outcome.options
    database = ScenarioDatabase(postgres.url, f"bench_{os.getpid()}_{next(db_counter)}")
    try:
        known = _spread(names, options.known)
        started = time.perf_counter()
        database.seed(known)
        outcome.notes.append(f"graph seeded with {len(known)} known names in {time.perf_counter() - started:.1f} s")
        print(f"   {outcome.notes[-1]}", flush=True)
        config = workdir / "thoth-scale-seen.yaml"
        write_config(config, index.base_url, "seen")
        runner = _Runner(outcome, "seen", database, index, config)
        common: dict[str, Any] = {"postgres": postgres, "workdir": workdir, "args": args}
        runner.step("first", "first run", asked="auto", expected=len(known) * options.versions, **common)
        runner.step(
            "steady",
            "steady run, nothing changed",
            asked="auto",
            expected=0,
            wall=TARGET_SEEN_STEADY_S,
            rss=TARGET_SEEN_STEADY_RSS_MB,
            **common,
        )
        changed = _spread(known, options.changed)
        index.publish([(name, NEW_VERSION) for name in changed])
        outcome.published += len(changed)
        runner.step(
            "changed",
            f"{len(changed)} known projects changed",
            asked="auto",
            expected=len(changed),
            wall=TARGET_SEEN_CHANGED_S,
            **common,
        )
        if not outcome.strategy_supported:
            return
        runner.step("steady-projects", "steady run, nothing changed", asked="projects", expected=0, **common)
        changed = _spread(known, options.changed, offset=1)
        index.publish([(name, SECOND_VERSION) for name in changed])
        outcome.published += len(changed)
        runner.step(
            "changed-projects",
            f"{len(changed)} known projects changed",
            asked="projects",
            expected=len(changed),
            **common,
        )
    finally:
        database.drop()


def _all_part(
    outcome: ScaleOutcome,
    index: IndexProcess,
    *,
    postgres: Postgres,
    workdir: Path,
    args: argparse.Namespace,
    db_counter: Iterator[int],
) -> None:
    options = outcome.options
    database = ScenarioDatabase(postgres.url, f"bench_{os.getpid()}_{next(db_counter)}")
    try:
        config = workdir / "thoth-scale-all.yaml"
        write_config(config, index.base_url, "all")
        runner = _Runner(outcome, "all", database, index, config)
        common: dict[str, Any] = {"postgres": postgres, "workdir": workdir, "args": args}
        shards = []
        for shard in range(options.shards):
            shards.append(
                runner.step(
                    f"first-shard-{shard}-of-{options.shards}",
                    f"first run, shard {shard}/{options.shards}",
                    extra=["--shard-index", str(shard), "--shard-count", str(options.shards)],
                    **common,
                )
            )
        expected_total = options.projects * options.versions + outcome.published
        inserted = sum(step.result.inserted for step in shards)
        if inserted != expected_total:
            shards[-1].result.problems.append(f"the shards inserted {inserted} rows, the index has {expected_total}")
        runner.step(
            "steady-reread",
            "steady run, listing read again",
            expected=0,
            wall=TARGET_ALL_STEADY_S,
            **common,
        )
        runner.step("steady", "steady run, listing 304", expected=0, wall=TARGET_ALL_STEADY_S, **common)
    finally:
        database.drop()


__all__ = ["ScaleOptions", "ScaleOutcome", "ScaleStep", "add_arguments", "as_json", "options_from", "run_scale"]
