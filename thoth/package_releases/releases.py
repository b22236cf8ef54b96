"""Pure logic over releases: what is missing from the graph, which entity rules apply, which shard owns a name."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from thoth.package_releases.values import EntityRule, Release


def missing_releases(
    index_url: str,
    found: Mapping[str, Iterable[str]],
    known: Mapping[str, Iterable[str]],
) -> list[Release]:
    """Return the releases found on an index that the graph does not hold yet, sorted by name and version."""
    missing: list[Release] = []
    for name, versions in found.items():
        already = set(known.get(name, ()))
        missing.extend(Release(name, version, index_url) for version in set(versions) if version not in already)
    return sorted(missing, key=lambda r: (r.package_name, _version_key(r.package_version)))


@lru_cache(maxsize=65536)
def _version_key(version: str) -> tuple[int, Version | str]:
    # Cached: the same version strings recur across projects, and parsing is most of the cost of sorting.
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def rule_matches(rule: EntityRule, package_name: str, package_version: str, index_id: int | None) -> bool:
    """Tell whether an entity rule applies to a package version on an index.

    A rule applies to its package on its own index (or on every index when it names none), to the versions
    in its range (pre-releases included, as thoth-storages does) or to every version when it has no range.
    An unparsable range matches nothing rather than failing the run.
    """
    if rule.package_name != package_name:
        return False
    if rule.index_id is not None and rule.index_id != index_id:
        return False
    if not rule.version_range:
        return True
    try:
        return SpecifierSet(rule.version_range, prereleases=True).contains(package_version, prereleases=True)
    except InvalidSpecifier:
        return False


def range_is_valid(version_range: str | None) -> bool:
    """Tell whether an entity rule's version range is empty or a valid PEP 440 specifier (else it matches nothing)."""
    if not version_range:
        return True
    try:
        SpecifierSet(version_range)
    except InvalidSpecifier:
        return False
    return True


def matching_rules(
    rules: Sequence[EntityRule], package_name: str, package_version: str, index_id: int | None
) -> list[int]:
    """Return the ids of the rules that apply to a package version on an index."""
    return [rule.id for rule in rules if rule_matches(rule, package_name, package_version, index_id)]


def shard_of(package_name: str, shard_count: int) -> int:
    """Return the shard (0..shard_count-1) that owns a normalized package name, the same in every process."""
    if shard_count <= 1:
        return 0
    digest = hashlib.sha256(package_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


def chunked(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    """Yield consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
