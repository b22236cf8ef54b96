"""The threshold of ``--scan-strategy auto``: where one listing costs as much as that many conditional requests.

Run by ``bench/run.py`` (scale set) as a child process, with the job's code (the benchmark's snapshot) first on
``sys.path``, against a synthetic index on 127.0.0.1 that answers with a fixed latency::

    python bench/crossover.py --index-url http://127.0.0.1:PORT/simple --sizes 2000,8000 --repeat 3

It uses the job's own index client (``SimpleIndexClient``) and measures, wall and CPU (all threads):

* the listing: ``project_listing()`` without validators (a ``200``: fetch, gunzip, parse every name and
  serial), as a run pays it whenever anything changed on the index (on PyPI: every hour);
* per-project conditional requests: ``fetch_many()`` of ``n`` projects whose validators are known (every
  answer a ``304``), for two sizes ``n1 < n2``; the cost of one request is the slope
  ``(T(n2) - T(n1)) / (n2 - n1)``, so that the pool's start is not counted per request.

The crossover is ``listing / slope``: checking more projects than that costs more by requests than by one
listing. It prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Cost:
    """Wall and CPU seconds of one measured step."""

    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class Crossover:
    """What was measured against one index, and the crossover derived from it."""

    listed: int
    listing: Cost
    listing_repeats: list[Cost]
    sizes: list[int]
    requests: list[Cost]
    not_modified: list[int]
    per_request_wall_ms: float
    per_request_cpu_ms: float
    crossover_wall: int
    crossover_cpu: int


def _timed(action: Callable[[], Any]) -> tuple[Any, Cost]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = action()
    return value, Cost(time.perf_counter() - wall, time.process_time() - cpu)


def _median(costs: Sequence[Cost]) -> Cost:
    return Cost(statistics.median(c.wall_s for c in costs), statistics.median(c.cpu_s for c in costs))


def warm_listing(index_url: str) -> None:
    """Have the index render its listing (both forms) before it is timed: PyPI's CDN serves it ready-made."""
    headers = {"Accept": "application/vnd.pypi.simple.v1+json", "Accept-Encoding": "gzip"}
    request = urllib.request.Request(f"{index_url.rstrip('/')}/", headers=headers)
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()


def measure(index_url: str, sizes: Sequence[int], repeat: int, concurrency: int) -> Crossover:
    """Measure the listing and conditional requests on an index with the job's client; derive the crossover."""
    from thoth.package_releases.sources.index import FetchStatus, SimpleIndexClient
    from thoth.package_releases.values import PageValidators

    warm_listing(index_url)
    small, large = sorted(sizes)[:2]
    with SimpleIndexClient(index_url, concurrency=concurrency, timeout=120) as client:
        listings = []
        names: list[str] = []
        listed = 0
        for _ in range(repeat):
            result, cost = _timed(lambda: client.project_listing(None))
            if result.status is not FetchStatus.OK:
                raise SystemExit(f"listing failed: {result.status} {result.error}")
            listings.append(cost)
            listed = len(result.projects)
            names = [str(name) for name in itertools.islice(iter(result.projects), large)]
            del result
        if len(names) < large:
            raise SystemExit(f"the index lists {len(names)} projects, fewer than {large}")

        def fetch(items: Iterable[tuple[str, PageValidators | None]]) -> list[Any]:
            return list(client.fetch_many(items))

        first = fetch((name, None) for name in names)  # the validators a previous run would have stored
        validators = {r.project: r.validators for r in first if r.status is FetchStatus.OK}
        costs, not_modified = [], []
        for size in (small, large):
            runs = []
            items = [(name, validators.get(name)) for name in names[:size]]
            for _ in range(repeat):
                results, cost = _timed(lambda: fetch(items))  # noqa: B023 (called at once)
                runs.append(cost)
            costs.append(_median(runs))
            not_modified.append(sum(1 for r in results if r.status is FetchStatus.NOT_MODIFIED))
    listing = _median(listings)
    slope_wall = (costs[1].wall_s - costs[0].wall_s) / (large - small)
    slope_cpu = (costs[1].cpu_s - costs[0].cpu_s) / (large - small)
    return Crossover(
        listed=listed,
        listing=listing,
        listing_repeats=listings,
        sizes=[small, large],
        requests=costs,
        not_modified=not_modified,
        per_request_wall_ms=slope_wall * 1000,
        per_request_cpu_ms=slope_cpu * 1000,
        crossover_wall=round(listing.wall_s / slope_wall) if slope_wall > 0 else 0,
        crossover_cpu=round(listing.cpu_s / slope_cpu) if slope_cpu > 0 else 0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the crossover as JSON."""
    parser = argparse.ArgumentParser(prog="bench/crossover.py", description=__doc__)
    parser.add_argument("--index-url", required=True, help="http://127.0.0.1:PORT/simple")
    parser.add_argument("--sizes", default="2000,8000", help="two numbers of conditional requests (2000,8000)")
    parser.add_argument("--repeat", type=int, default=3, help="medians of this many measurements (3)")
    parser.add_argument("--concurrency", type=int, default=16, help="the client's concurrency (the job's default)")
    args = parser.parse_args(argv)
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    if len(sizes) != 2 or sizes[0] == sizes[1] or min(sizes) < 1:
        parser.error("--sizes: two different positive numbers")
    crossover = measure(args.index_url, sizes, args.repeat, args.concurrency)
    json.dump(asdict(crossover), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
