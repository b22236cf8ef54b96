"""The scale set's results as markdown: targets, runs, the two strategies side by side, shards, crossover."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.run import RunResult, _bytes, _statuses
from bench.scale import ScaleOutcome, ScaleStep

RUNS_HEADER = (
    "| part | run | strategy asked (chosen) | listing | wall s | CPU s (user+sys) | peak RSS MB | index CPU s "
    "| PostgreSQL CPU s | load | checked (304, skipped by serial) | requests (by status) | bytes received "
    "| rows inserted | check |\n"
    "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n"
)


def _verdict(result: RunResult) -> str:
    parts = []
    if result.problems:
        parts.append("**FAIL**: " + "; ".join(result.problems))
    if result.misses:
        parts.append("**MISS**: " + "; ".join(result.misses))
    return "; ".join(parts) or "ok"


def _run_row(step: ScaleStep) -> str:
    r = step.result
    asked = step.asked or "default"
    strategy = f"{asked} ({r.strategy})" if r.strategy else asked
    db_cpu = "-" if r.db_cpu_s is None else f"{r.db_cpu_s:.2f}"
    return (
        f"| {step.part} | {step.name} | {strategy} | {r.listing or '-'} | {r.wall_s:.2f} "
        f"| {r.cpu_s:.2f} ({r.user_s:.2f}+{r.sys_s:.2f}) | {r.peak_rss_mb:.0f} | {r.server_cpu_s:.2f} | {db_cpu} "
        f"| {r.load_avg:.1f} | {r.checked} ({r.not_modified}, {r.skipped_by_serial}) | {r.requests} ({_statuses(r)}) "
        f"| {_bytes(r.bytes_received)} | {r.inserted} | {_verdict(r)} |\n"
    )


def _find(steps: Sequence[ScaleStep], part: str, kind: str) -> ScaleStep | None:
    return next((s for s in steps if s.part == part and s.result.kind == kind), None)


def _targets(steps: Sequence[ScaleStep]) -> str:
    lines = ["| target | measured | met? |", "|---|---:|---|"]
    for step in steps:
        r = step.result
        if step.target_wall_s is not None:
            met = "yes" if r.wall_s <= step.target_wall_s else "**NO**"
            lines.append(f"| {step.part}: {step.name}: <= {step.target_wall_s:g} s | {r.wall_s:.2f} s | {met} |")
        if step.target_rss_mb is not None:
            met = "yes" if r.peak_rss_mb <= step.target_rss_mb else "**NO**"
            lines.append(
                f"| {step.part}: {step.name}: peak RSS <= {step.target_rss_mb:g} MB | {r.peak_rss_mb:.0f} MB | {met} |"
            )
        if step.target_wall_s is not None and step.expected_rows:
            met = "yes" if r.inserted == step.expected_rows else "**NO**"
            lines.append(
                f"| {step.part}: {step.name}: exactly {step.expected_rows} rows inserted | {r.inserted} | {met} |"
            )
    return "\n".join(lines) + "\n"


def _strategies(steps: Sequence[ScaleStep]) -> str:
    lines = [
        "| run (seen, 100,000 known) | auto: wall / CPU s | projects: wall / CPU s | projects / auto (wall) |",
        "|---|---:|---:|---:|",
    ]
    for auto_kind, projects_kind in (("steady", "steady-projects"), ("changed", "changed-projects")):
        auto, projects = _find(steps, "seen", auto_kind), _find(steps, "seen", projects_kind)
        if auto is None or projects is None:
            continue
        a, p = auto.result, projects.result
        ratio = f"{p.wall_s / a.wall_s:.1f}x" if a.wall_s else "-"
        lines.append(f"| {auto.name} | {a.wall_s:.2f} / {a.cpu_s:.2f} | {p.wall_s:.2f} / {p.cpu_s:.2f} | {ratio} |")
    return "\n".join(lines) + "\n" if len(lines) > 2 else "Strategy `projects` not run (the job has no option).\n"


def _shards(steps: Sequence[ScaleStep]) -> str:
    shards = [s for s in steps if s.part == "all" and s.result.kind.startswith("first-shard-")]
    if not shards:
        return "No shard was run.\n"
    lines = [
        "| shard | wall s | CPU s | peak RSS MB | index CPU s | PostgreSQL CPU s | load | projects checked "
        "| rows inserted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in shards:
        r = step.result
        db_cpu = "-" if r.db_cpu_s is None else f"{r.db_cpu_s:.2f}"
        lines.append(
            f"| {step.name.rsplit(' ', 1)[-1]} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.peak_rss_mb:.0f} "
            f"| {r.server_cpu_s:.1f} | {db_cpu} | {r.load_avg:.1f} | {r.checked} | {r.inserted} |"
        )
    walls = [s.result.wall_s for s in shards]
    checked = sum(s.result.checked or 0 for s in shards)
    rows = sum(s.result.inserted for s in shards)
    lines.append(
        f"| all {len(shards)} | {sum(walls):.1f} (max {max(walls):.1f}) | {sum(s.result.cpu_s for s in shards):.1f} "
        f"| max {max(s.result.peak_rss_mb for s in shards):.0f} | | | | {checked} | {rows} |"
    )
    rate = checked / sum(walls) if sum(walls) else 0.0
    lines.append(f"\nOne pod's first-run rate over the shards: {checked} projects / {sum(walls):.0f} s = {rate:.0f}/s.")
    return "\n".join(lines) + "\n"


def _crossovers(crossovers: Sequence[dict[str, Any]]) -> str:
    if not crossovers:
        return "Not measured.\n"
    lines = [
        "| latency | projects listed | listing 200: wall / CPU s | conditional requests (304): n1, n2 "
        "| one request (slope): wall / CPU ms | crossover by wall | crossover by CPU | load |",
        "|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for c in crossovers:
        if "error" in c:
            lines.append(f"| {c['latency_ms']:g} ms | failed: {c['error']} | | | | | | |")
            continue
        (w1, w2) = (cost["wall_s"] for cost in c["requests"])
        lines.append(
            f"| {c['latency_ms']:g} ms | {c['listed']} | {c['listing']['wall_s']:.2f} / {c['listing']['cpu_s']:.2f} "
            f"| {c['sizes'][0]}: {w1:.2f} s, {c['sizes'][1]}: {w2:.2f} s "
            f"| {c['per_request_wall_ms']:.3f} / {c['per_request_cpu_ms']:.3f} | {c['crossover_wall']} "
            f"| {c['crossover_cpu']} | {' '.join(str(x) for x in c['load'])} |"
        )
    lines.append(
        "\ncrossover = (listing wall) / (one request's wall): checking more projects than that costs more"
        " by conditional requests than one listing read and parsed in full."
    )
    return "\n".join(lines) + "\n"


def render(outcome: ScaleOutcome) -> str:
    """The scale set's section of the results."""
    o = outcome.options
    out = [
        "\n### Scale set (issue 14)\n\n",
        f"{o.projects} projects x {o.versions} versions on the index ({o.latency_ms:g} ms), {o.known} known to"
        f" the graph, {o.changed} changed per change run, {o.shards} shards.",
        "".join(f" {note[0].upper()}{note[1:]}." for note in outcome.notes) + "\n",
        "\n#### Targets\n\n",
        _targets(outcome.steps),
        "\n#### Runs\n\n",
        RUNS_HEADER,
        *(_run_row(step) for step in outcome.steps),
        "\n#### Listing against per-project requests\n\n",
        _strategies(outcome.steps),
        "\n#### First run of all-packages mode, shards one after another\n\n",
        _shards(outcome.steps),
        "\n#### Crossover of `--scan-strategy auto`\n\n",
        _crossovers(outcome.crossovers),
    ]
    return "".join(out)
