"""The names and serials of a project listing, held compactly: PyPI lists some 600,000 projects.

The valid normalized names (ASCII by the PEP 508 rule) are one bytes buffer in listing order, with an array of
offsets; the serials an array of 64-bit integers beside them. Lookups bisect a sorted array of the names'
hashes (this process' hash of their bytes), each with the name's place. About 50 bytes a project, where a tuple
of strings and a dict of serials take some 200.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from bisect import bisect_left
from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from typing import Final, overload

from thoth.package_releases.clean import is_valid_name, shown
from thoth.package_releases.normalize import normalize_name
from thoth.package_releases.sources.documents import PageError
from thoth.package_releases.sources.limits import Allowance, BudgetExceeded

# How many invalid listed names a listing's report shows.
INVALID_EXAMPLES: Final = 5
# Names decoded at once when the names are iterated.
_BATCH: Final = 4096
# A place takes the low bits of a sort key, the name's hash the high ones (places stay below 2**23: 8 million).
_PLACE_BITS: Final = 23
_HASH_MASK: Final = (1 << 64) - 1


def _hash(name: bytes) -> int:
    return hash(name) & _HASH_MASK


class ListedNames(Sequence[str]):
    """The normalized names of a listing, in listing order, each once; ``name in names`` is a bisection.

    It compares equal to any sequence (a tuple, say) of the same names in the same order.
    """

    def __init__(
        self,
        blob: bytes = b"",
        starts: array[int] | None = None,
        hashes: array[int] | None = None,
        places: array[int] | None = None,
    ) -> None:
        """Hold the names of ``blob`` (each ends with a newline), at offsets ``starts`` (and the end).

        ``hashes`` are the names' hashes, sorted; ``places`` the place of the name of each.
        """
        self._blob = blob
        self._starts = starts if starts is not None else array("q", [0])
        self._hashes = hashes if hashes is not None else array("Q")
        self._places = places if places is not None else array("q")

    def __len__(self) -> int:
        """Return the number of names."""
        return len(self._starts) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        """Return the name at ``index`` (listing order), or a tuple of those of a slice."""
        if isinstance(index, slice):
            return tuple(self[place] for place in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("listed name index out of range")
        return self._raw(index).decode("ascii")

    def __iter__(self) -> Iterator[str]:
        """Yield the names in listing order."""
        for first in range(0, len(self), _BATCH):
            last = min(first + _BATCH, len(self))
            yield from self._blob[self._starts[first] : self._starts[last] - 1].decode("ascii").split("\n")

    def __contains__(self, name: object) -> bool:
        """Return whether a (normalized) name is listed."""
        return isinstance(name, str) and self.place(name) is not None

    def __eq__(self, other: object) -> bool:
        """Return whether ``other`` is a sequence of the same names in the same order."""
        if isinstance(other, ListedNames):
            return self._blob == other._blob
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(mine == theirs for mine, theirs in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        """Return the hash of the tuple of the names (it compares equal)."""
        return hash(tuple(self))

    def __repr__(self) -> str:
        """Return a short description: the count, and the first few names."""
        more = ", ..." if len(self) > 3 else ""
        return f"ListedNames({len(self)} names: {', '.join(self[:3])}{more})"

    def place(self, name: str) -> int | None:
        """Return the index of a normalized name in listing order, or None when it is not listed."""
        try:
            key = name.encode("ascii")
        except UnicodeEncodeError:
            return None
        wanted = _hash(key)
        hashes = self._hashes
        at = bisect_left(hashes, wanted)
        while at < len(hashes) and hashes[at] == wanted:
            if self._raw(self._places[at]) == key:
                return self._places[at]
            at += 1
        return None

    def _raw(self, place: int) -> bytes:
        return self._blob[self._starts[place] : self._starts[place + 1] - 1]


class ListedSerials(Mapping[str, int]):
    """The ``_last-serial`` of each listed project: a read-only mapping, its keys in listing order."""

    def __init__(self, names: ListedNames, serials: array[int]) -> None:
        """Hold the serials of ``names``, place for place."""
        self._names = names
        self._serials = serials

    def __getitem__(self, name: str) -> int:
        """Return a listed project's serial; raise KeyError for a project not listed."""
        place = self._names.place(name) if isinstance(name, str) else None
        if place is None:
            raise KeyError(name)
        return self._serials[place]

    def __iter__(self) -> Iterator[str]:
        """Yield the projects in listing order."""
        return iter(self._names)

    def __len__(self) -> int:
        """Return the number of projects."""
        return len(self._names)

    def items(self) -> ItemsView[str, int]:
        """Return a view of the (name, serial) pairs, in listing order (read in one pass, no lookups)."""
        return _Items(self)

    def values(self) -> ValuesView[int]:
        """Return a view of the serials, in listing order."""
        return _Values(self)

    def __repr__(self) -> str:
        """Return a short description: the count."""
        return f"ListedSerials({len(self)} projects)"


class _Items(ItemsView[str, int]):
    _mapping: ListedSerials

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return zip(self._mapping._names, self._mapping._serials, strict=True)


class _Values(ValuesView[int]):
    _mapping: ListedSerials

    def __iter__(self) -> Iterator[int]:
        return iter(self._mapping._serials)


class ListingBuilder:
    """The names (and serials) of a listing as they are read: valid ones normalized and kept, the others counted.

    The names kept are packed as they come (one buffer, offsets); ``build`` indexes them by hash and keeps
    each once (the first place, the highest serial).
    """

    def __init__(self, max_names: int, *, serials: bool, allowance: Allowance | None = None) -> None:
        """Prepare for at most ``max_names`` listed names (a PageError past it); ``serials`` when they are listed.

        The bytes the names and serials hold are taken from ``allowance``, if given (a PageError past it): indexing
        them at the end takes about as much again, for a while.
        """
        if max_names >= 1 << _PLACE_BITS:
            raise ValueError(f"at most {(1 << _PLACE_BITS) - 1} names")
        self.max_names = max_names
        self.listed = 0
        self.invalid = 0
        self.examples: list[str] = []
        self._blob = bytearray()  # the names kept, in listing order, each ending with a newline
        self._starts = array("q", [0])
        self._serials: array[int] | None = array("q") if serials else None
        self._allowance = allowance
        self._held = self._taken = 0

    def add(self, raw: str, serial: int | None = None) -> None:
        """Take one listed name, with its serial (None: the listing's serials are incomplete, none is kept)."""
        self.listed += 1
        if self.listed > self.max_names:
            raise PageError(f"more than {self.max_names} projects in the listing")
        name = raw.strip()
        if not is_valid_name(name):
            self.invalid += 1
            if len(self.examples) < INVALID_EXAMPLES:
                self.examples.append(shown(raw))
            return
        self._blob += normalize_name(name).encode("ascii")
        self._blob += b"\n"
        self._starts.append(len(self._blob))
        self._held += len(name) + 17  # the name, its newline, its offset and serial
        if self._allowance is not None and self._held > self._taken:
            self._take(self._allowance)
        if self._serials is not None:
            if serial is None:
                self._serials = None
            else:
                self._serials.append(serial)

    def _take(self, allowance: Allowance) -> None:
        """Take what the names hold from the allowance, a mebibyte ahead; raise PageError when it does not fit."""
        need = self._held - self._taken
        step = need + max(min(1 << 20, allowance.limit - allowance.taken - need), 0)
        try:
            allowance.take(step)
        except BudgetExceeded as exceeded:
            raise PageError(f"the listing's names exceed the memory budget of {exceeded.limit} bytes") from None
        self._taken += step

    def build(self) -> tuple[ListedNames, ListedSerials | None]:
        """Return the names kept, each once in the order first listed, and their serials (None when incomplete)."""
        blob, starts, serials = bytes(self._blob), self._starts, self._serials
        self._blob, self._starts, self._serials = bytearray(), array("q", [0]), None
        hashes, places, repeats = _index(blob, starts, serials)
        if any(repeats):
            blob, starts, serials, places = _without(repeats, blob, starts, serials, places)
        names = ListedNames(blob, starts, hashes, places)
        return names, None if serials is None else ListedSerials(names, serials)


def _index(blob: bytes, starts: array[int], serials: array[int] | None) -> tuple[array[int], array[int], bytearray]:
    """Return the names' hashes sorted, the place of each, and a mark on each place that repeats an earlier one.

    The first place of a repeated name gets the highest serial of its places.
    """
    count = len(starts) - 1
    keys = [_hash(blob[starts[place] : starts[place + 1] - 1]) << _PLACE_BITS | place for place in range(count)]
    keys.sort()  # by hash, then by place
    low = (1 << _PLACE_BITS) - 1
    hashes = array("Q", (key >> _PLACE_BITS for key in keys))
    places = array("q", (key & low for key in keys))
    del keys
    if not any(map(operator.eq, hashes, itertools.islice(hashes, 1, None))):
        return hashes, places, bytearray()  # no hash twice: no name twice
    return _told_apart(blob, starts, serials, hashes, places)


def _told_apart(
    blob: bytes, starts: array[int], serials: array[int] | None, hashes: array[int], places: array[int]
) -> tuple[array[int], array[int], bytearray]:
    """Return :func:`_index`'s answer when some names share a hash: the same name, or (rarely) a collision."""
    kept_hashes, kept_places = array("Q"), array("q")
    repeats = bytearray(len(starts) - 1)
    group = 0  # where the places of the present hash start
    for wanted, place in zip(hashes, places, strict=True):
        if not kept_hashes or kept_hashes[-1] != wanted:
            group = len(kept_hashes)
        else:
            first = _earlier(blob, starts, kept_places, group, place)
            if first is not None:
                repeats[place] = 1
                if serials is not None:
                    serials[first] = max(serials[first], serials[place])
                continue
        kept_hashes.append(wanted)
        kept_places.append(place)
    return kept_hashes, kept_places, repeats


def _earlier(blob: bytes, starts: array[int], places: array[int], group: int, place: int) -> int | None:
    """Return the earlier place (among ``places[group:]``, of one hash) of the name at ``place``, if any."""
    name = blob[starts[place] : starts[place + 1]]
    for other in places[group:]:
        if blob[starts[other] : starts[other + 1]] == name:
            return other
    return None


def _without(
    repeats: bytearray, blob: bytes, starts: array[int], serials: array[int] | None, places: array[int]
) -> tuple[bytes, array[int], array[int] | None, array[int]]:
    """Return the names, offsets, serials and (renumbered) places without the places marked as repeats."""
    kept = [place for place, repeat in enumerate(repeats) if not repeat]
    renumbered = array("q", [0]) * len(repeats)
    for new, old in enumerate(kept):
        renumbered[old] = new
    new_blob = b"".join(blob[starts[place] : starts[place + 1]] for place in kept)
    new_starts = array("q", [0])
    for place in kept:
        new_starts.append(new_starts[-1] + starts[place + 1] - starts[place])
    new_serials = None if serials is None else array("q", (serials[place] for place in kept))
    return new_blob, new_starts, new_serials, array("q", (renumbered[place] for place in places))
