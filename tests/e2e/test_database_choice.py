"""End-to-end checks of the database choice: the 2019 job's Dgraph variables stop the run before anything is
written, and the embedded database a run used can be opened with psql (``make psql``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import App
from tests.support.servers import IndexServer

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param({"GRAPH_SERVICE_HOST": "dgraph.thoth.svc:9080"}, "GRAPH_SERVICE_HOST", id="host"),
        pytest.param(
            {"GRAPH_SERVICE_HOST": "dgraph.thoth.svc:9080", "GRAPH_TLS_PATH": "/etc/dgraph/tls"},
            "GRAPH_SERVICE_HOST and GRAPH_TLS_PATH",
            id="host-and-tls",
        ),
    ],
)
def test_seed_era_variables_stop_the_run_with_one_line_and_exit_2(
    app: App, json_index: IndexServer, click_config: str, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    data_dir = tmp_path / "data"

    result = app("--config", click_config, database_url=None, data_dir=data_dir, env=env)

    assert result.code == 2, result
    (line,) = result.error_lines
    assert line.startswith(f"error: bad configuration: environment: {named}: "), line
    assert "no longer read" in line
    assert "KNOWLEDGE_GRAPH_HOST" in line
    assert "--database-url" in line
    assert result.stdout == ""
    assert result.report_text is None
    assert not data_dir.exists(), "no embedded database may be started in place of the knowledge graph"
    assert json_index.requests == []


def test_seed_era_variables_next_to_knowledge_graph_ones_are_ignored(
    app: App, json_index: IndexServer, click_config: str, tmp_path: Path
) -> None:
    """A deployment that kept the old variables next to the new ones goes to the KNOWLEDGE_GRAPH_* database."""
    env = {
        "GRAPH_SERVICE_HOST": "dgraph.thoth.svc:9080",
        "GRAPH_TLS_PATH": "/etc/dgraph/tls",
        "KNOWLEDGE_GRAPH_HOST": "127.0.0.1",
        "KNOWLEDGE_GRAPH_PORT": "1",  # closed: the error names the database the run chose
        "KNOWLEDGE_GRAPH_DATABASE": "knowledge",
    }

    result = app("--config", click_config, database_url=None, data_dir=tmp_path / "data", env=env)

    assert result.code == 1, result
    (line,) = result.error_lines
    assert line.startswith("error: cannot connect to database 'knowledge' on 127.0.0.1:1: "), result
    assert "GRAPH_SERVICE_HOST" not in result.stderr
    assert not (tmp_path / "data").exists()
