"""End-to-end checks of the database choice: the 2019 job's Dgraph variables stop the run before anything is
written, and the embedded database a run used can be opened with psql (``make psql``)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import App
from tests.support.app import REPO_ROOT, job_environment
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


# -- psql on the embedded database -------------------------------------------------------------------------

MAKEFILE = REPO_ROOT / "Makefile"


def makefile_recipe(target: str) -> list[str]:
    """The command lines of a Makefile target's recipe."""
    lines = MAKEFILE.read_text(encoding="utf-8").splitlines()
    start = next(number for number, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def make_psql_command(args: str) -> list[str]:
    """What `make psql ARGS=...` runs, with the test's Python standing for pipenv's."""
    (line,) = makefile_recipe("psql")
    assert line.startswith("$(RUN) python3 "), line
    command = line.removeprefix("$(RUN) python3 ")
    assert command.endswith(" $(ARGS)"), line
    return [sys.executable, *shlex.split(command.removesuffix(" $(ARGS)")), *shlex.split(args)]


def test_make_psql_opens_the_embedded_database_a_run_wrote_at_the_url_v_logs(
    app: App, json_index: IndexServer, click_config: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    run = app("--config", click_config, "-v", database_url=None, data_dir=data_dir)
    assert run.code == 0, run
    (logged,) = run.lines_with("Embedded PostgreSQL at ")
    url = logged.split("Embedded PostgreSQL at ", 1)[1].split()[0]
    parts = urlsplit(url)
    assert parts.scheme == "postgresql"
    assert parts.password is None
    assert ":@" not in url
    assert (data_dir / "pgdata").is_dir()

    query = (
        "SELECT e.package_name, e.package_version, i.url FROM python_package_version_entity e"
        " JOIN python_package_index i ON i.id = e.python_package_index_id"
    )
    command = make_psql_command(f"--data-dir {shlex.quote(str(data_dir))} -tA -F ' ' -c {shlex.quote(query)}")
    psql = subprocess.run(command, cwd=REPO_ROOT, env=job_environment(), capture_output=True, text=True, timeout=60)

    assert psql.returncode == 0, psql.stderr
    assert psql.stdout.split() == ["click", "8.0", json_index.base_url]
    assert psql.stderr == f"Embedded PostgreSQL at {url}\n", "psql connects where -v said the database is"
    # The server was started for psql alone, and is stopped with it.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_make_psql_without_a_run_says_so(tmp_path: Path) -> None:
    command = make_psql_command(f"--data-dir {shlex.quote(str(tmp_path / 'none'))} -c 'SELECT 1'")
    psql = subprocess.run(command, cwd=REPO_ROOT, env=job_environment(), capture_output=True, text=True, timeout=60)

    assert psql.returncode == 1, psql
    assert psql.stderr == f"error: no embedded database in {tmp_path / 'none'}: run the job first (make run)\n"
    assert not (tmp_path / "none").exists()
