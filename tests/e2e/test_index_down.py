"""A dead index is given up after a run of failures instead of costing every package its retries."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import App, KnowledgeGraph, WriteConfig, index_config
from tests.support.servers import IndexServer

pytestmark = pytest.mark.e2e


def test_an_index_that_stopped_answering_is_given_up(
    app: App, kg: KnowledgeGraph, write_config: WriteConfig, database_url: str
) -> None:
    names = [f"known-{i:03d}" for i in range(300)]
    seed = kg.add_index("https://seed.invalid/simple", enabled=False)
    for name in names:
        kg.add_entity(name, "1.0", seed)
    down = IndexServer()
    down.start()
    url = down.base_url
    down.stop()  # nothing listens on its port any more: every request is refused
    config = write_config(index_config(url))

    started = time.monotonic()
    run = app("--config", config, "--concurrency", "32", database_url=database_url)
    elapsed = time.monotonic() - started

    assert run.code == 1, run
    report = run.index(url)
    assert report["error"].startswith("index unreachable: 50 requests in a row failed, the last with:")
    assert report["packages_checked"] < len(names)
    assert "every index failed" in run.error_lines[0]
    # Every package would have cost 4 refused tries and 3.5 s of backoff; giving up early bounds the run.
    assert elapsed < 60
    assert kg.count("python_package_version_entity") == len(names)
