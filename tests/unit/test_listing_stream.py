"""Unit tests of reading a project listing as it arrives, in pieces (issue 14): JSON and HTML, and hostile input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.test_pages import HTML_TYPE, JSON_TYPE, fixture
from thoth.package_releases.sources.listed import ListingBuilder
from thoth.package_releases.sources.listing import JsonListingReader, ProjectListing, read_listing
from thoth.package_releases.sources.pages import PageError, parse_listing

NAMES = ("0", "foo-bar", "requests", "zope-interface", "django")
SERIALS = {"0": 3075854, "foo-bar": 20711222, "requests": 27003015, "zope-interface": 26981330, "django": 27002988}


def pieces(body: bytes, size: int) -> Iterator[bytes]:
    return (body[start : start + size] for start in range(0, len(body), size))


def read_in_pieces(body: bytes, size: int, content_type: str = JSON_TYPE, **kwargs: Any) -> ProjectListing:
    return read_listing(pieces(body, size), content_type, **kwargs)


def same(listing: ProjectListing, expected: ProjectListing) -> None:
    assert tuple(listing.names) == tuple(expected.names)
    assert (None if listing.serials is None else dict(listing.serials.items())) == (
        None if expected.serials is None else dict(expected.serials.items())
    )
    assert (listing.serial, listing.invalid_names, listing.invalid_examples) == (
        expected.serial,
        expected.invalid_names,
        expected.invalid_examples,
    )


def listing_json(*members: tuple[str, Any], indent: int | None = None) -> bytes:
    """A JSON object with the members in the order given (a key may repeat)."""
    parts = [f"{json.dumps(key)}: {json.dumps(value, indent=indent)}" for key, value in members]
    return ("{" + ",\n ".join(parts) + "}").encode()


META = ("meta", {"api-version": "1.1", "_last-serial": 99})
PROJECTS = [
    {"name": "Foo_Bar", "_last-serial": 5},
    {"_last-serial": 7, "name": "zope.interface"},  # the other key order
    {"name": "na\\u006de", "_last-serial": 3},  # an escape: left to the decoder
    {"name": "with-extra", "_last-serial": 2, "x": [1, {"y": None}], "z": "}]"},
    {"name": "not a name", "_last-serial": 4},
    {"name": "foo.bar", "_last-serial": 9},  # foo-bar again: the first place, the highest serial
]


def test_every_piece_size_reads_the_same_listing() -> None:
    body = fixture("index.json")
    whole = parse_listing(body, JSON_TYPE)
    assert tuple(whole.names) == NAMES
    assert whole.serials == SERIALS
    assert whole.serial == 27003015
    for size in range(1, len(body) + 1):
        same(read_in_pieces(body, size), whole)


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize(
    "order",
    [
        [META, ("projects", PROJECTS)],
        [("projects", PROJECTS), META],  # meta last: the API version is checked at the end
        [("other", {"deep": [1, 2, {"a": "b"}]}), ("projects", PROJECTS), ("count", 12345), META, ("z", None)],
    ],
)
def test_members_and_entry_keys_in_any_order(order: list[tuple[str, Any]], indent: int | None) -> None:
    body = listing_json(*order, indent=indent).replace(b"\\\\u006d", b"\\u006d")
    for size in (1, 2, 3, 5, 8, 13, 64, len(body)):
        listing = read_in_pieces(body, size)
        assert tuple(listing.names) == ("foo-bar", "zope-interface", "name", "with-extra")
        assert listing.serials == {"foo-bar": 9, "zope-interface": 7, "name": 3, "with-extra": 2}
        assert listing.serial == 99
        assert (listing.invalid_names, listing.invalid_examples) == (1, ("'not a name'",))


def test_a_utf16_listing_is_read_as_json_loads_reads_it() -> None:
    body = json.dumps({"meta": {"api-version": "1.0"}, "projects": [{"name": "a"}]}).encode("utf-16")
    for size in (1, 3, len(body)):
        assert tuple(read_in_pieces(body, size).names) == ("a",)


def test_an_entry_without_a_serial_gives_no_serials_but_every_name() -> None:
    body = listing_json(META, ("projects", [{"name": "a", "_last-serial": 1}, {"name": "b"}, {"name": "c"}]))
    for size in (1, 7, len(body)):
        listing = read_in_pieces(body, size)
        assert tuple(listing.names) == ("a", "b", "c")
        assert listing.serials is None


@pytest.mark.parametrize("serial", [-1, 2**63, "12", 1.5, None, True])
def test_a_serial_that_is_no_bigint_gives_no_serials(serial: object) -> None:
    body = listing_json(META, ("projects", [{"name": "a", "_last-serial": 1}, {"name": "b", "_last-serial": serial}]))
    listing = read_in_pieces(body, 4)
    assert tuple(listing.names) == ("a", "b")
    assert listing.serials == ({"a": 1, "b": 12} if serial == "12" else None)


def test_an_empty_projects_array() -> None:
    listing = read_in_pieces(listing_json(META, ("projects", [])), 1)
    assert tuple(listing.names) == ()
    assert listing.serials == {}


MALFORMED = [
    (b"", "an empty document"),
    (b"   \n ", "an empty document"),
    (b"[]", "not an object"),
    (b'"text"', "not an object"),
    (b"{not json", "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}}', '"projects" is not a list'),
    (b'{"meta": {"api-version": "1.1"}, "projects": {}}', '"projects" is not a list'),
    (b'{"meta": {"api-version": "1.1"}, "projects": null}', '"projects" is not a list'),
    (b'{"projects": []}', 'no "meta" object'),
    (b'{"meta": {}, "projects": []}', 'no "meta.api-version"'),
    (b'{"meta": {"api-version": "2.0"}, "projects": []}', "unsupported repository version 2.0"),
    (b'{"projects": [{"name": "a"}], "meta": {"api-version": "x"}}', "invalid api-version"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a"},]}', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a"} {"name": "b"}]}', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a"}]]', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": 5}]}', 'a project without a "name"'),
    (b'{"meta": {"api-version": "1.1"}, "projects": ["a"]}', 'a project without a "name"'),
    (b'{"meta": {"api-version": "1.1"} "projects": []}', "malformed JSON"),
    (b'{"meta" {"api-version": "1.1"}, "projects": []}', "malformed JSON"),
    (b'{meta: 1, "projects": []}', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": []} {}', "extra data"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [], "projects": []}', "given twice"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a\x01"}]}', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a", "_last-serial": 01}]}', "malformed JSON"),
    (b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "\xff"}]}', "malformed JSON"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED)
def test_malformed_listings_are_refused_in_any_pieces(body: bytes, reason: str) -> None:
    for size in (1, 2, 5, max(len(body), 1)):
        with pytest.raises(PageError, match=reason):
            read_in_pieces(body, size)


def test_every_truncation_of_a_listing_is_refused() -> None:
    body = listing_json(META, ("projects", PROJECTS[:2]))
    for end in range(len(body)):
        with pytest.raises(PageError, match="malformed JSON"):
            read_in_pieces(body[:end], 3)


def test_a_never_ending_string_is_refused_at_the_bound() -> None:
    """A name that never ends is held only up to the bound: a PageError, not the whole body in memory."""
    reader = JsonListingReader(ListingBuilder(100, serials=True), max_value=10_000)
    reader.feed(b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "')

    def feed_without_end() -> None:
        for _ in range(100_000):
            reader.feed(b"a")

    with pytest.raises(PageError, match="a value longer than 10000 characters"):
        feed_without_end()


def test_a_never_ending_string_in_large_pieces_is_refused_at_the_default_bound() -> None:
    started = time.monotonic()
    endless = (b"x" * 65536 for _ in range(10_000))  # 640 MiB, were it read whole
    head = [b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "']
    with pytest.raises(PageError, match="a value longer than"):
        read_listing((piece for part in (head, endless) for piece in part), JSON_TYPE)
    assert time.monotonic() - started < 30  # refused once past the bound (1 MiB), not at the end


@pytest.mark.parametrize(
    "prefix",
    [
        b'{"meta": {"api-version": "1.1"}, "projects": [',  # in the array
        b'{"meta": {"api-version": "1.1"}, "projects": [{"name": "a", "x": ',  # in an entry
        b'{"meta": ',  # in meta
        b'{"other": ',  # in a member that is read and dropped
    ],
)
def test_deep_nesting_is_refused(prefix: bytes) -> None:
    for nesting in (b"[" * 200_000, b'{"a":' * 200_000):
        with pytest.raises(PageError, match=r"nested too deeply|longer than"):
            read_in_pieces(prefix + nesting, 65536)


def test_blanks_without_end_are_read_in_constant_memory() -> None:
    reader = JsonListingReader(ListingBuilder(100, serials=True))
    reader.feed(b'{"meta": {"api-version": "1.1"}, "projects": [')
    for _ in range(2000):
        reader.feed(b" " * 65536)  # 128 MiB of blanks between two tokens: skipped as they come
    assert len(reader._text) == 0
    with pytest.raises(PageError, match="ends early"):
        reader.close()


def test_more_names_than_the_bound_are_refused_while_reading() -> None:
    entries = [{"name": f"p{i}", "_last-serial": i} for i in range(10)]
    with pytest.raises(PageError, match="more than 3 projects in the listing"):
        read_in_pieces(listing_json(META, ("projects", entries)), 7, max_names=3)
    assert len(read_in_pieces(listing_json(META, ("projects", entries)), 7, max_names=10).names) == 10


# --- HTML -----------------------------------------------------------------------------------------------------


def test_every_piece_size_reads_the_same_html_listing() -> None:
    body = fixture("index.html")
    whole = parse_listing(body, HTML_TYPE, "https://pypi.example/simple")
    assert tuple(whole.names) == NAMES
    assert whole.serial == 27003015
    for size in range(1, len(body) + 1, 3):
        same(read_in_pieces(body, size, HTML_TYPE, url="https://pypi.example/simple"), whole)


def test_an_html_serial_split_across_pieces_is_found() -> None:
    body = b'<html><body><a href="/simple/a/">a</a></body></html><!--  SERIAL   123456789 -->'
    for size in range(1, len(body) + 1):
        assert read_in_pieces(body, size, HTML_TYPE).serial == 123456789


def test_a_welcome_page_in_pieces_is_no_listing() -> None:
    body = (
        b'<html><body><a href="/packages/">here</a><a href="/simple/">simple</a>'
        b'<a href="https://pypi.org/project/pypiserver/">pypiserver</a></body></html>'
    )
    with pytest.raises(PageError, match="not a simple-API project listing"):
        read_in_pieces(body, 4, HTML_TYPE, url="http://127.0.0.1:8080")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"just some text, " * 10_000, "no anchors and no HTML structure"),
        (b'<html><a href="/simple/a/">a</a>\x00</html>', "control characters"),
        (b"<html><body>" + b"x" * 200_000 + b"\x01", "control characters"),
    ],
)
def test_html_that_is_no_page_is_refused_in_pieces(body: bytes, reason: str) -> None:
    for size in (1, 1000, len(body)):
        if size == 1 and len(body) > 20_000:
            continue
        with pytest.raises(PageError, match=reason):
            read_in_pieces(body, size, HTML_TYPE)


def test_a_tag_that_never_closes_is_refused_at_the_bound() -> None:
    """The HTML parser would hold an open tag whole: one longer than the bound is refused as it grows."""
    endless = (b"x" * 65536 for _ in range(10_000))  # 640 MiB, were it held
    head = [b'<html><body><a href="/simple/a/">a</a><a href="']
    with pytest.raises(PageError, match="a tag longer than"):
        read_listing((piece for part in (head, endless) for piece in part), HTML_TYPE)


def test_html_anchors_past_the_bound_are_refused() -> None:
    anchors = "".join(f'<a href="/simple/p{i}/">p{i}</a>' for i in range(5)).encode()
    with pytest.raises(PageError, match="more than 4 projects"):
        read_in_pieces(b"<html>" + anchors, 9, HTML_TYPE, max_names=4)
