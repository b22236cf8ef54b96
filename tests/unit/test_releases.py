from __future__ import annotations

import subprocess
import sys

import pytest

from thoth.package_releases.releases import (
    chunked,
    matching_rules,
    missing_releases,
    rule_matches,
    shard_of,
)
from thoth.package_releases.values import EntityRule, Release

INDEX = "https://pypi.org/simple"


def test_missing_releases_are_the_found_minus_the_known_sorted_by_version() -> None:
    found = {"click": ["8.0.0", "7.1.2", "10.0.0"], "flask": ["2.0.0"]}
    known = {"click": {"7.1.2"}}
    assert missing_releases(INDEX, found, known) == [
        Release("click", "8.0.0", INDEX),
        Release("click", "10.0.0", INDEX),
        Release("flask", "2.0.0", INDEX),
    ]


def test_missing_releases_is_empty_when_everything_is_known() -> None:
    assert missing_releases(INDEX, {"click": ["1.0"]}, {"click": {"1.0"}}) == []


def test_missing_releases_deduplicates_versions() -> None:
    assert missing_releases(INDEX, {"a": ["1.0", "1.0"]}, {}) == [Release("a", "1.0", INDEX)]


@pytest.mark.parametrize(
    ("rule", "version", "index_id", "expected"),
    [
        (EntityRule(1, "tf", None, None), "2.0.0", 1, True),
        (EntityRule(1, "tf", "", None), "2.0.0", 1, True),
        (EntityRule(1, "tf", "<2.0", None), "2.0.0", 1, False),
        (EntityRule(1, "tf", "<2.0", None), "1.15.0", 1, True),
        (EntityRule(1, "tf", ">=1.0", None), "2.0.0rc1", 1, True),  # pre-releases match, as in thoth-storages
        (EntityRule(1, "tf", None, 2), "1.0", 1, False),  # a rule for another index
        (EntityRule(1, "tf", None, 1), "1.0", 1, True),
        (EntityRule(1, "other", None, None), "1.0", 1, False),
        (EntityRule(1, "tf", "not a specifier", None), "1.0", 1, False),
    ],
)
def test_rule_matches(rule: EntityRule, version: str, index_id: int, expected: bool) -> None:
    assert rule_matches(rule, "tf", version, index_id) is expected


def test_matching_rules_returns_ids_of_applicable_rules() -> None:
    rules = [EntityRule(1, "tf", "<2", None), EntityRule(2, "tf", ">=2", None), EntityRule(3, "tf", None, None)]
    assert matching_rules(rules, "tf", "2.1", 5) == [2, 3]


def test_shards_partition_names_and_are_stable_across_processes() -> None:
    names = [f"pkg-{i}" for i in range(1000)]
    shards = [shard_of(name, 3) for name in names]
    assert set(shards) == {0, 1, 2}
    assert all(shards.count(s) > 250 for s in range(3))  # roughly balanced
    code = "from thoth.package_releases.releases import shard_of; print([shard_of(f'pkg-{i}', 3) for i in range(1000)])"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123"}
    )
    assert other.stdout.strip() == str(shards)


def test_single_shard_owns_everything() -> None:
    assert {shard_of(f"p{i}", 1) for i in range(50)} == {0}


def test_chunked_covers_every_item_once() -> None:
    items = [str(i) for i in range(11)]
    chunks = list(chunked(items, 4))
    assert [len(c) for c in chunks] == [4, 4, 3]
    assert [x for c in chunks for x in c] == items
