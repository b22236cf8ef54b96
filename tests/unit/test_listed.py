"""Unit tests of the compact names and serials of a listing (issue 14): a sequence and a read-only mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from thoth.package_releases.sources import listed
from thoth.package_releases.sources.documents import PageError
from thoth.package_releases.sources.limits import Allowance, MemoryBudget
from thoth.package_releases.sources.listed import INVALID_EXAMPLES, ListingBuilder


def built(*entries: tuple[str, int | None], serials: bool = True) -> tuple[Sequence[str], Mapping[str, int] | None]:
    builder = ListingBuilder(max(len(entries), 1), serials=serials)
    for name, serial in entries:
        builder.add(name, serial)
    return builder.build()


def test_names_keep_the_listing_order_and_are_found_by_bisection() -> None:
    names, serials = built(("Zope.Interface", 3), ("django", 9), ("0", 1), ("A_B", 4))

    assert list(names) == ["zope-interface", "django", "0", "a-b"]
    assert names == ("zope-interface", "django", "0", "a-b")
    assert names != ("django", "zope-interface", "0", "a-b")
    assert (len(names), names[0], names[-1], names[1:3]) == (4, "zope-interface", "a-b", ("django", "0"))
    assert "django" in names
    assert "a-b" in names
    assert "Django" not in names  # lookups are of normalized names
    assert "djang" not in names
    assert "é" not in names
    assert not names.__contains__(5)
    with pytest.raises(IndexError):
        names.__getitem__(4)

    assert serials is not None
    assert serials == {"zope-interface": 3, "django": 9, "0": 1, "a-b": 4}
    assert (serials["django"], serials.get("nope"), serials.get("é", -1)) == (9, None, -1)
    assert list(serials.items()) == [("zope-interface", 3), ("django", 9), ("0", 1), ("a-b", 4)]
    assert list(serials.values()) == [3, 9, 1, 4]
    assert list(serials) == list(names)
    assert len(serials) == 4
    with pytest.raises(KeyError):
        serials["nope"]


def test_a_repeated_name_keeps_its_first_place_and_highest_serial() -> None:
    names, serials = built(("b", 5), ("a", 1), ("B", 9), ("a", 0), ("b", 7))

    assert names == ("b", "a")
    assert serials == {"b": 9, "a": 1}


def test_invalid_names_are_counted_with_a_few_examples() -> None:
    builder = ListingBuilder(100, serials=True)
    for index in range(INVALID_EXAMPLES + 3):
        builder.add(f"bad name {index}", index)
    builder.add("good", 1)
    names, serials = builder.build()

    assert names == ("good",)
    assert dict(serials or {}) == {"good": 1}
    assert builder.invalid == INVALID_EXAMPLES + 3
    assert builder.examples[0] == "'bad name 0'"
    assert len(builder.examples) == INVALID_EXAMPLES


def test_one_name_without_a_serial_drops_them_all() -> None:
    names, serials = built(("a", 1), ("b", None), ("c", 3))
    assert names == ("a", "b", "c")
    assert serials is None


def test_an_html_listing_has_no_serials() -> None:
    names, serials = built(("a", None), serials=False)
    assert names == ("a",)
    assert serials is None


def test_an_empty_listing() -> None:
    names, serials = built()
    assert (len(names), list(names), "a" in names) == (0, [], False)
    assert serials == {}


def test_the_bound_counts_every_listed_name() -> None:
    builder = ListingBuilder(2, serials=True)
    builder.add("a", 1)
    builder.add("not valid", 1)
    with pytest.raises(PageError, match="more than 2 projects in the listing"):
        builder.add("c", 1)


def test_many_names_are_found_in_both_orders() -> None:
    listed = [(f"p{(index * 7919) % 5000}", index) for index in range(5000)]
    names, serials = built(*listed)

    assert names == tuple(name for name, _ in listed)
    assert serials is not None
    assert all(serials[name] == serial for name, serial in listed[::97])
    assert sorted(names) == sorted(name for name, _ in listed)


@pytest.mark.parametrize("buckets", [1, 2, 7, 2**64])
def test_names_whose_hashes_collide_are_told_apart(monkeypatch: pytest.MonkeyPatch, buckets: int) -> None:
    monkeypatch.setattr(listed, "_hash", lambda name: hash(name) % buckets)  # 1: every hash the same
    entries = [(f"p{(index * 7919) % 300}", index) for index in range(500)]  # repeated names, too
    names, serials = built(*entries)

    firsts: dict[str, int] = {}
    for name, serial in entries:
        firsts[name] = max(firsts.get(name, serial), serial)
    assert names == tuple(firsts)
    assert serials is not None
    assert dict(serials.items()) == firsts
    assert all(serials[name] == serial for name, serial in firsts.items())
    assert "p300" not in names
    assert serials.get("p-1") is None


def test_names_past_the_memory_budget_are_refused() -> None:
    budget = MemoryBudget(10_000)
    allowance = Allowance(budget)
    builder = ListingBuilder(1000, serials=True, allowance=allowance)
    for index in range(100):
        builder.add(f"project-{index:03d}", index)  # 28 bytes held each
    assert 2800 <= allowance.taken <= 10_000

    def add_more() -> None:
        for index in range(100, 1000):
            builder.add(f"project-{index:03d}", index)

    with pytest.raises(PageError, match="the listing's names exceed the memory budget of 10000 bytes"):
        add_more()
    assert budget.used <= 10_000
