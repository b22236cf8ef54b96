"""The names and serials of a project listing, held compactly: PyPI lists some 600,000 projects.

The valid normalized names (ASCII by the PEP 508 rule) are one bytes buffer, sorted, with an array of offsets
(lookups are a bisection); an array of positions gives the listing's order; the serials are an array of 64-bit
integers. About 40 bytes a project, where a tuple of strings and a dict of serials take some 200.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left
from collections.abc import ItemsView, Iterator, Mapping, Sequence, ValuesView
from typing import Final, overload

from thoth.package_releases.clean import is_valid_name, shown
from thoth.package_releases.normalize import normalize_name
from thoth.package_releases.sources.documents import PageError

# How many invalid listed names a listing's report shows.
INVALID_EXAMPLES: Final = 5
# How many names are sorted at once (their keys held together); more are sorted in runs and merged.
_RUN: Final = 1 << 20


class ListedNames(Sequence[str]):
    """The normalized names of a listing, in listing order, each once; ``name in names`` is a bisection.

    It compares equal to any sequence (a tuple, say) of the same names in the same order.
    """

    def __init__(self, blob: bytes = b"", starts: array[int] | None = None, listed: array[int] | None = None) -> None:
        """Hold the sorted names of ``blob`` (each ends with a newline; ``starts`` are their offsets, and its end).

        ``listed`` gives the listing's order: the sorted index of each name, in the order they were listed.
        """
        self._blob = blob
        self._starts = starts if starts is not None else array("q", [0])
        self._listed = listed if listed is not None else array("q")

    def __len__(self) -> int:
        """Return the number of names."""
        return len(self._listed)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        """Return the name at ``index`` (listing order), or a tuple of those of a slice."""
        if isinstance(index, slice):
            return tuple(self._name(sorted_index) for sorted_index in self._listed[index])
        return self._name(self._listed[index])

    def __iter__(self) -> Iterator[str]:
        """Yield the names in listing order."""
        return map(self._name, self._listed)

    def __contains__(self, name: object) -> bool:
        """Return whether a (normalized) name is listed."""
        return isinstance(name, str) and self.sorted_index(name) is not None

    def __eq__(self, other: object) -> bool:
        """Return whether ``other`` is a sequence of the same names in the same order."""
        if isinstance(other, ListedNames):
            return self._blob == other._blob and self._listed == other._listed
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

    def sorted_index(self, name: str) -> int | None:
        """Return the index of a normalized name among the sorted names, or None when it is not listed."""
        try:
            key = name.encode("ascii")
        except UnicodeEncodeError:
            return None
        count = len(self._starts) - 1
        at = bisect_left(range(count), key, key=self._raw)
        return at if at < count and self._raw(at) == key else None

    def _raw(self, sorted_index: int) -> bytes:
        return self._blob[self._starts[sorted_index] : self._starts[sorted_index + 1] - 1]

    def _name(self, sorted_index: int) -> str:
        return self._blob[self._starts[sorted_index] : self._starts[sorted_index + 1] - 1].decode("ascii")


class ListedSerials(Mapping[str, int]):
    """The ``_last-serial`` of each listed project: a read-only mapping, its keys in listing order."""

    def __init__(self, names: ListedNames, serials: array[int]) -> None:
        """Hold the serials of ``names``, by sorted index."""
        self._names = names
        self._serials = serials

    def __getitem__(self, name: str) -> int:
        """Return a listed project's serial; raise KeyError for a project not listed."""
        found = self._names.sorted_index(name) if isinstance(name, str) else None
        if found is None:
            raise KeyError(name)
        return self._serials[found]

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
        names, serials = self._mapping._names, self._mapping._serials
        for sorted_index in names._listed:
            yield names._name(sorted_index), serials[sorted_index]


class _Values(ValuesView[int]):
    _mapping: ListedSerials

    def __iter__(self) -> Iterator[int]:
        names, serials = self._mapping._names, self._mapping._serials
        return map(serials.__getitem__, names._listed)


class ListingBuilder:
    """The names (and serials) of a listing as they are read: valid ones normalized and kept, the others counted.

    The names kept are packed as they come (one buffer, offsets); ``build`` sorts them in runs of bounded size,
    merged, so that memory stays near that of the packed names, and keeps each name once (the first place,
    the highest serial).
    """

    def __init__(self, max_names: int, *, serials: bool) -> None:
        """Prepare for at most ``max_names`` listed names (a PageError past it); ``serials`` when they are listed."""
        self.max_names = max_names
        self.listed = 0
        self.invalid = 0
        self.examples: list[str] = []
        self._blob = bytearray()  # the names kept, in listing order, each ending with a newline
        self._starts = array("q", [0])
        self._serials: array[int] | None = array("q") if serials else None

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
        if self._serials is not None:
            if serial is None:
                self._serials = None
            else:
                self._serials.append(serial)

    def build(self) -> tuple[ListedNames, ListedSerials | None]:
        """Return the names kept, each once in the order first listed, and their serials (None when incomplete)."""
        listed_serials = self._serials
        count = len(self._starts) - 1
        blob = bytearray()  # the names, sorted, each once
        starts = array("q", [0])
        sorted_serials = array("q")
        sorted_index = array("q", [-1]) * count  # of each listed place; -1 for a repeat
        previous = b""
        for key in self._sorted_keys():
            cut = key.index(b"\n") + 1
            name, place = key[:cut], int.from_bytes(key[cut:], "big")
            serial = 0 if listed_serials is None else listed_serials[place]
            if name == previous:  # a repeat, listed later (places break the ties)
                sorted_serials[-1] = max(sorted_serials[-1], serial)
                continue
            previous = name
            sorted_index[place] = len(starts) - 1
            blob += name
            starts.append(len(blob))
            sorted_serials.append(serial)
        self._serials = None
        names = ListedNames(bytes(blob), starts, array("q", (index for index in sorted_index if index >= 0)))
        return names, None if listed_serials is None else ListedSerials(names, sorted_serials)

    def _sorted_keys(self) -> Iterator[bytes]:
        """Yield each name kept with its place (the name, a newline, 4 bytes) in order: runs sorted, then merged.

        The packed names are dropped once the keys are made; each key is dropped once it is consumed.
        """
        blob, starts = bytes(self._blob), self._starts
        self._blob, self._starts = bytearray(), array("q", [0])
        count = len(starts) - 1
        runs: list[bytes] = []
        for first in range(0, count, _RUN):
            keys = [
                blob[starts[place] : starts[place + 1]] + place.to_bytes(4, "big")
                for place in range(first, min(first + _RUN, count))
            ]
            keys.sort(reverse=True)
            if count <= _RUN:
                del blob, starts
                while keys:
                    yield keys.pop()
                return
            runs.append(b"".join(reversed(keys)))
            keys.clear()
        del blob, starts
        yield from heapq.merge(*map(_run_keys, runs))


def _run_keys(run: bytes) -> Iterator[bytes]:
    """Yield the keys of a sorted run (each a name, its newline, and 4 bytes)."""
    position = 0
    while position < len(run):
        end = run.index(b"\n", position) + 5
        yield run[position:end]
        position = end
