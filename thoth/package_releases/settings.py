"""What a run is told by its command line and environment, and the one place for their defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from thoth.package_releases.config import DEFAULT_CONFIG

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONFIG",
    "DEFAULT_DATA_DIR",
    "DEFAULT_NOTIFICATION_ATTEMPTS",
    "DEFAULT_SCAN_STRATEGY",
    "DEFAULT_SHARD_COUNT",
    "DEFAULT_SHARD_INDEX",
    "DEFAULT_TIMEOUT",
    "LISTING_THRESHOLD",
    "SCAN_STRATEGIES",
    "Settings",
]

# The defaults, read by Settings and by the command line's options alike.
DEFAULT_DATA_DIR: Final = Path(".thoth-data")
DEFAULT_CONCURRENCY: Final = 16
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_CHUNK_SIZE: Final = 500
DEFAULT_NOTIFICATION_ATTEMPTS: Final = 10
DEFAULT_SHARD_INDEX: Final = 0
DEFAULT_SHARD_COUNT: Final = 1
# How an index's projects are checked: "listing" reads the index's listing and requests only the projects whose
# serial grew; "projects" sends a conditional request per project; "auto" picks one per index and run.
SCAN_STRATEGIES: Final = ("auto", "listing", "projects")
DEFAULT_SCAN_STRATEGY: Final = "auto"
# `auto` reads the listing (in only_if_package_seen mode) when more projects than this are to be checked: the
# crossover where one listing costs less than that many conditional requests. `make bench` measured it against a
# 600,000-project listing (bench/crossover.py): 2,700 to 4,400 requests by wall or CPU, at 0 and 25 ms latency
# (bench/README.md). Settings.listing_threshold overrides it in tests.
LISTING_THRESHOLD: Final = 3_000


@dataclass(frozen=True)
class Settings:
    """Everything a run is told by its command line and environment."""

    config: str = DEFAULT_CONFIG
    allow_insecure_config: bool = False
    database_url: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    init_schema: bool = False
    only_if_package_seen: bool = False
    dry_run: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    chunk_size: int = DEFAULT_CHUNK_SIZE
    feeds: bool = True
    scan: bool = True
    deadline: float | None = None
    shard_index: int = DEFAULT_SHARD_INDEX
    shard_count: int = DEFAULT_SHARD_COUNT
    notification_attempts: int = DEFAULT_NOTIFICATION_ATTEMPTS
    metrics_file: Path | None = None
    scan_strategy: str = DEFAULT_SCAN_STRATEGY
    listing_threshold: int = LISTING_THRESHOLD
    quiet: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def migrate_only(self) -> bool:
        """Whether the run only migrates and registers the indexes (``--init-schema --no-feeds --no-scan``)."""
        return self.init_schema and not self.feeds and not self.scan and not self.dry_run

    @property
    def shard_label(self) -> str:
        """Return the run's shard as the job's state stores it ("index/count")."""
        return f"{self.shard_index}/{self.shard_count}"
