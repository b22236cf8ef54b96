"""Fault matrix: bad configuration (missing file, unreadable URL, bad YAML, wrong types, unknown keys, unknown
template placeholders) stops the run with exit 2 and one line naming the file, the key path and the reason,
before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import (
    Job,
    KnowledgeGraph,
    Result,
    assert_rows_complete,
    closed_port,
    projects,
    write_config,
)
from tests.support.servers import FeedServer, IndexServer

pytestmark = pytest.mark.faults

# id -> (configuration text, {index} and {port} filled in; None: no file at all), the key path, the reason
BAD_FILES = {
    "missing-file": (None, "", "cannot read the configuration: No such file or directory"),
    "unreadable-file": ("<a directory>", "", "cannot read the configuration: Is a directory"),
    "bad-yaml": (
        "indexes:\n  - url: {index}\n    enabled: [true\n",
        "line 4, column 1",
        "invalid YAML",
    ),
    "duplicate-key": ("indexes: []\nindexes: []\n", "line 2, column 1", "invalid YAML: duplicate key 'indexes'"),
    "wrong-type": (
        "indexes:\n  - url: {index}\n    verify_ssl: 'yes'\n",
        "indexes[0].verify_ssl",
        "expected a boolean (true or false), got 'yes' (string)",
    ),
    "wrong-type-number": (
        "indexes:\n  - url: {index}\n    enabled: 1\n",
        "indexes[0].enabled",
        "expected a boolean (true or false), got 1 (integer)",
    ),
    "unknown-key": (
        "indexes:\n  - url: {index}\n    verfy_ssl: false\n",
        "indexes[0].verfy_ssl",
        "unknown key; allowed keys: url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen",
    ),
    "unknown-top-level-key": ("indexes:\n  - url: {index}\npackage:\n  click: {{}}\n", "package", "unknown key"),
    "unknown-placeholder": (
        "indexes:\n  - url: {index}\npackages:\n  click:\n    triggers:\n"
        "      - url: http://127.0.0.1:{port}/hook/{{FAULTS_UNSET_TOKEN}}\n",
        "packages.click.triggers[0].url",
        "unknown placeholder {FAULTS_UNSET_TOKEN}",
    ),
    "unknown-placeholder-in-header": (
        "indexes:\n  - url: {index}\npackages:\n  click:\n    triggers:\n"
        "      - url: http://127.0.0.1:{port}/hook\n        headers:\n          X-Token: '{{FAULTS_UNSET_TOKEN}}'\n",
        "packages.click.triggers[0].headers.X-Token",
        "unknown placeholder {FAULTS_UNSET_TOKEN}",
    ),
}


def assert_bad_configuration(result: Result, source: str, path: str, reason: str) -> None:
    assert result.code == 2, result
    (line,) = result.error_lines
    assert line.startswith(f"error: bad configuration: {source}: "), line
    if path:
        assert f": {path}: " in line, line
    assert reason in line, line
    assert "Traceback" not in result.stderr, result


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_configuration_file_exits_2_naming_file_key_path_and_reason_and_writes_nothing(
    job: Job, kg: KnowledgeGraph, tmp_path: Path, case: str
) -> None:
    text, key_path, reason = BAD_FILES[case]
    with IndexServer(projects(2)) as index:
        path = tmp_path / "thoth.yaml"
        if text == "<a directory>":
            path.mkdir()
        elif text is not None:
            path.write_text(text.format(index=index.base_url, port=closed_port()), encoding="utf-8")

        result = job.run(config=str(path), database_url=kg.url)

        assert_bad_configuration(result, str(path), key_path, reason)
        assert kg.index_urls() == [], "nothing may be written"
        assert index.requests == []
        assert not job.data_dir.exists()

        good = write_config(tmp_path / "good.yaml", index.base_url)
        rerun = job.run(config=good, database_url=kg.url)

        assert rerun.code == 0, rerun
        assert_rows_complete(kg, index)


@pytest.mark.parametrize("failure", ["connection-refused", "http-500", "http-404"])
def test_unreadable_configuration_url_exits_2_and_writes_nothing(
    job: Job, kg: KnowledgeGraph, tmp_path: Path, failure: str
) -> None:
    with IndexServer(projects(2)) as index, FeedServer() as documents:
        good = Path(write_config(tmp_path / "good.yaml", index.base_url))
        documents.set("/thoth.yaml", good.read_bytes(), content_type="application/yaml")
        if failure == "connection-refused":
            url = f"http://127.0.0.1:{closed_port()}/thoth.yaml"
            reason = "cannot fetch the configuration: connection refused by 127.0.0.1:"
        elif failure == "http-500":
            documents.fail("/thoth.yaml", 500, times=None)
            url, reason = documents.url_for("thoth.yaml"), "cannot fetch the configuration: HTTP 500"
        else:
            url, reason = documents.url_for("missing.yaml"), "cannot fetch the configuration: HTTP 404"

        result = job.run("--allow-insecure-config", config=url, database_url=kg.url)

        assert_bad_configuration(result, url, "", reason)
        assert kg.index_urls() == []
        assert index.requests == []

        documents.clear_faults()
        rerun = job.run("--allow-insecure-config", config=documents.url_for("thoth.yaml"), database_url=kg.url)

        assert rerun.code == 0, rerun
        assert_rows_complete(kg, index)
