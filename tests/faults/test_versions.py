"""Fault matrix: invalid and legacy versions, odd file names, names needing normalization.

They are skipped (and reported) or normalized the way thoth-storages stores them; never fatal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.faults.conftest import (
    Job,
    KnowledgeGraph,
    assert_rerun_adds_nothing,
    assert_rows_complete,
    normalized_model,
    write_config,
)
from tests.support.servers import IndexServer, pages

pytestmark = pytest.mark.faults

# PEP 691 JSON: versions come from the page's PEP 700 "versions" list, as the index spells them.
JSON_PROJECTS = {
    "Foo_Bar.Baz": ["1.0.0-RC1", "1.0.0rc1", "v2.0", "1.0-legacy", "2004d", "3.0.post-1"],
    "UPPER__Case": ["1.0", "1.0.0", "2!1.0"],
}
JSON_INVALID = {"foo-bar-baz": {"1.0-legacy", "2004d"}}

# PEP 503 HTML: versions come from the file names, plus files that are no release of the project.
HTML_PROJECTS = {"Odd.Project": ["1.0", "2.0.0.RC1"], "Other-Project": ["0.1"]}
ODD_FILES = (
    "README.md",  # not a distribution
    "Odd.Project-1.0.tar.gz.asc",  # a signature
    "odd_project-1.0-py3-none-any.whl.metadata",  # PEP 658 metadata
    "other-project-7.0.tar.gz",  # another project's file
    "odd-project.tar.gz",  # no version at all (parses as project "odd")
    "Odd.Project-latest.tar.gz",  # a legacy version
)
HTML_INVALID = {"odd-project": {"latest"}}


@pytest.fixture
def odd_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test index list ODD_FILES on Odd.Project's page besides its real distributions."""
    original = pages.file_entries

    def entries(name: str, version: str) -> list[tuple[str, str, int]]:
        files = original(name, version)
        if pages.normalize(name) == "odd-project" and version == "1.0":
            files += [(filename, hashlib.sha256(filename.encode()).hexdigest(), 100) for filename in ODD_FILES]
        return files

    monkeypatch.setattr(pages, "file_entries", entries)


def test_invalid_versions_odd_file_names_and_unnormalized_names_are_skipped_or_normalized_never_fatal(
    job: Job, kg: KnowledgeGraph, config_path: Path, odd_files: None
) -> None:
    with (
        IndexServer(JSON_PROJECTS, formats=("json", "html")) as json_index,
        IndexServer(HTML_PROJECTS, formats=("html",)) as html_index,
    ):
        config = write_config(config_path, json_index.base_url, html_index.base_url)

        result = job.run(config=config, database_url=kg.url)

        assert result.code == 0, result
        for index, invalid in ((json_index, JSON_INVALID), (html_index, HTML_INVALID)):
            report = result.index(index.base_url)
            assert report["failed"] == 0, result
            assert report["invalid_versions"] == sum(len(versions) for versions in invalid.values()), result
            # Listed, not errors (issue 11 defect 5): they would be errors on every run.
            listed = {(entry["package_name"], entry["version"]) for entry in report["invalid_versions_listed"]}
            assert listed == {(name, version) for name, versions in invalid.items() for version in versions}
            assert_rows_complete(kg, index)
        assert result.report["errors"] == [], result
        # Normalization as thoth-storages does it: one row for 1.0.0-RC1 and 1.0.0rc1, "v2.0" is 2.0, ...
        assert set(kg.rows(json_index.base_url)) == {
            ("foo-bar-baz", "1.0.0rc1"),
            ("foo-bar-baz", "2.0"),
            ("foo-bar-baz", "3.0.post1"),
            ("upper-case", "1.0"),
            ("upper-case", "1.0.0"),
            ("upper-case", "2!1.0"),
        }
        assert (
            set(kg.rows(html_index.base_url))
            == normalized_model(HTML_PROJECTS)
            == {
                ("odd-project", "1.0"),
                ("odd-project", "2.0.0rc1"),
                ("other-project", "0.1"),
            }
        )

        assert_rerun_adds_nothing(job, kg, config, json_index, html_index)
