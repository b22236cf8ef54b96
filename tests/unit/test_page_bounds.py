"""Unit tests of the bounds on what one simple-API page may hold (issue 10): counts, lengths, serials, names."""

from __future__ import annotations

import json

import pytest

from tests.unit.test_pages import HTML_TYPE, JSON_TYPE, json_page
from thoth.package_releases.clean import MAX_VERSION_LENGTH
from thoth.package_releases.sources import pages
from thoth.package_releases.sources.pages import PageError, as_serial, parse_listing, parse_project_page


def html_page(anchors: int, name: str = "foo-bar") -> bytes:
    links = "".join(f'<a href="{name}-1.0.{i}.tar.gz">{name}-1.0.{i}.tar.gz</a>\n' for i in range(anchors))
    return f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()


def json_listing(names: list[str], serial: int | None = None) -> bytes:
    projects = [{"name": name} if serial is None else {"name": name, "_last-serial": serial} for name in names]
    return json.dumps({"meta": {"api-version": "1.1"}, "projects": projects}).encode()


@pytest.mark.parametrize(
    ("value", "serial"),
    [
        (5, 5),
        ("42", 42),
        (" 7 ", 7),
        (2**63 - 1, 2**63 - 1),
        (2**63, None),
        ("9" * 30, None),
        ("9" * 5000, None),  # int() of it would raise: never tried
        (-3, None),
        ("-3", None),
        ("²", None),  # a digit to str.isdigit(), not to int()
        (True, None),
        (None, None),
    ],
)
def test_serials_beyond_a_bigint_are_absent(value: object, serial: int | None) -> None:
    assert as_serial(value) == serial


def test_html_serial_beyond_a_bigint_is_absent() -> None:
    body = html_page(1) + b"<!--SERIAL 999999999999999999999999999999-->"
    assert parse_project_page("foo-bar", body, HTML_TYPE).serial is None


def test_versions_longer_than_the_bound_are_invalid() -> None:
    long_version = "1.0+" + "a" * MAX_VERSION_LENGTH
    page = parse_project_page("foo-bar", json_page(["1.0", long_version, "2.0"]), JSON_TYPE)
    assert page.versions == ("1.0", "2.0")
    assert page.invalid_versions == (long_version,)


def test_a_page_with_more_versions_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "MAX_PAGE_VERSIONS", 3)
    assert parse_project_page("foo-bar", json_page(["1", "2", "3"]), JSON_TYPE).versions == ("1", "2", "3")
    with pytest.raises(PageError, match="more than 3 versions"):
        parse_project_page("foo-bar", json_page(["1", "2", "3", "4"]), JSON_TYPE)


def test_a_json_page_with_more_files_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "MAX_PAGE_FILES", 2)
    files = [f"foo_bar-1.{i}.tar.gz" for i in range(3)]
    with pytest.raises(PageError, match="more than 2 files"):
        parse_project_page("foo-bar", json_page(files=files), JSON_TYPE)


def test_an_html_page_with_more_anchors_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "MAX_PAGE_FILES", 100)
    assert len(parse_project_page("foo-bar", html_page(100), HTML_TYPE).files) == 100
    with pytest.raises(PageError, match="more than 100 files"):
        parse_project_page("foo-bar", html_page(101), HTML_TYPE)


def test_a_large_html_page_is_read_in_pieces() -> None:
    """Anchors spanning the pieces the parser is fed are read whole."""
    page = parse_project_page("foo-bar", html_page(3000), HTML_TYPE)
    assert len(page.files) == 3000
    assert page.files[-1].filename == "foo-bar-1.0.2999.tar.gz"


def test_a_listing_with_more_names_than_the_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "MAX_LISTED_NAMES", 2)
    with pytest.raises(PageError, match="more than 2 projects"):
        parse_listing(json_listing(["a", "b", "c"]), JSON_TYPE)
    with pytest.raises(PageError, match="more than 2 projects"):
        parse_listing(html_page(3, "a"), HTML_TYPE)


HOSTILE = ["be\x00ta", "'; drop table x", "-/-/-/etc/passwd", "<script>", "foo?x=1#frag", "%2e%2e", "..", "a b", "é"]


def test_listed_names_that_are_not_project_names_are_skipped_and_counted() -> None:
    listing = parse_listing(json_listing(["alpha", *HOSTILE, "Beta", "x" * 300], serial=7), JSON_TYPE)
    assert listing.names == ("alpha", "beta")
    assert listing.serials == {"alpha": 7, "beta": 7}
    assert listing.invalid_names == len(HOSTILE) + 1
    assert listing.invalid_examples[:2] == ("'be\\\\x00ta'", '"\'; drop table x"')
    assert len(listing.invalid_examples) == pages.INVALID_EXAMPLES


def test_html_listed_names_that_are_not_project_names_are_skipped_and_counted() -> None:
    texts = ["alpha", "&lt;script&gt;", "a b", "Beta"]
    anchors = "".join(f'<a href="/simple/{i}/">{text}</a>' for i, text in enumerate(texts))
    listing = parse_listing(f"<html><body>{anchors}</body></html>".encode(), HTML_TYPE)
    assert listing.names == ("alpha", "beta")
    assert listing.invalid_names == 2
    assert listing.invalid_examples == ("'<script>'", "'a b'")
