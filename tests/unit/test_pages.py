"""Unit tests of reading simple-API pages (PEP 691 JSON, PEP 503 HTML, PEP 700, PEP 592): pure, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from thoth.package_releases.sources.pages import (
    MAX_YANK_REASON,
    DistributionFile,
    PageError,
    files_by_version,
    parse_listing,
    parse_project_page,
)

FIXTURES = Path(__file__).parent / "fixtures" / "simple"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def json_page(
    versions: list[str] | None = None, serial: str | int | None = None, files: list[str] | None = None
) -> bytes:
    meta: dict[str, Any] = {"api-version": "1.1"}
    if serial is not None:
        meta["_last-serial"] = serial
    doc: dict[str, Any] = {
        "meta": meta,
        "name": "foo-bar",
        "files": [{"filename": name, "url": f"https://files.example/{name}", "hashes": {}} for name in files or []],
    }
    if versions is not None:
        doc["versions"] = versions
    return json.dumps(doc).encode()


# --- parsing saved pages -------------------------------------------------------------------------------------


def test_json_page_with_pep700_versions() -> None:
    page = parse_project_page("foo-bar", fixture("foo-bar.json"), JSON_TYPE)

    assert page.versions == ("1.0.0rc1", "1.0", "1.1", "2.0b1")
    assert page.invalid_versions == ("0.9.8-final",)
    assert page.serial == 20711222  # meta._last-serial is a string on PyPI


def test_json_page_without_versions_uses_file_names() -> None:
    page = parse_project_page("foo-bar", fixture("foo-bar-files.json"), JSON_TYPE)

    # Foo_Bar-0.9.zip and Foo_Bar-1.0.tar.gz need name normalization; 1.0.0-RC1 (sdist) and 1.0.0rc1
    # (wheel) are one version; the manylinux wheel gives 1.1.
    assert page.versions == ("0.9", "1.0.0rc1", "1.0", "1.1")
    assert page.invalid_versions == ("2004d",)
    assert page.serial is None


def test_json_files_of_other_projects_and_unparsable_names_are_ignored() -> None:
    body = json_page(files=["foo_bar-1.0.tar.gz", "foo-3.0.tar.gz", "README.txt", "foo_bar-2.0-py3-none-any.whl"])

    page = parse_project_page("foo-bar", body, JSON_TYPE)

    assert page.versions == ("1.0", "2.0")
    assert page.invalid_versions == ()


def test_versions_are_normalized_deduplicated_and_sorted_by_pep440() -> None:
    body = json_page(versions=["1.10", "1.0.0-RC1", "1.0.0rc1", "1.9", "01.2", "1.0.0", "v2.0", "1.0.0.post1"])

    page = parse_project_page("Foo_Bar", body, JSON_TYPE)

    assert page.versions == ("1.0.0rc1", "1.0.0", "1.0.0.post1", "1.2", "1.9", "1.10", "2.0")
    assert page.invalid_versions == ()


def test_invalid_versions_are_reported_raw_once_each() -> None:
    body = json_page(versions=["1.0", "2004d", "0.9.8-final", "2004d"])

    page = parse_project_page("foo-bar", body, JSON_TYPE)

    assert page.versions == ("1.0",)
    assert page.invalid_versions == ("2004d", "0.9.8-final")


def test_html_page_gives_versions_and_serial_comment() -> None:
    page = parse_project_page("foo-bar", fixture("foo-bar.html"), HTML_TYPE)

    assert page.versions == ("0.9", "1.0.0rc1", "1.0", "1.1")
    assert page.invalid_versions == ("2004d",)
    assert page.serial == 20711222


def test_pep691_html_content_type_is_accepted() -> None:
    body = b'<html><body><a href="../../files/foo_bar-3.1.tar.gz">foo_bar-3.1.tar.gz</a></body></html>'

    page = parse_project_page("foo-bar", body, "application/vnd.pypi.simple.v1+html")

    assert page.versions == ("3.1",)
    assert page.serial is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed JSON"),
        (b"[]", "not an object"),
        (b'{"name": "foo-bar", "files": []}', '"meta"'),
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported repository version 2.0"),
        (b'{"meta": {"api-version": "1.0"}, "files": [], "versions": "1.0"}', '"versions"'),
        (b'{"meta": {"api-version": "1.0"}, "files": {}}', '"files"'),
        (b'{"meta": {"api-version": "1.0"}, "files": [{"url": "x"}]}', '"filename"'),
    ],
)
def test_malformed_json_raises_page_error(body: bytes, reason: str) -> None:
    with pytest.raises(PageError, match=reason) as raised:
        parse_project_page("foo-bar", body, JSON_TYPE)
    assert "\n" not in str(raised.value)


def test_unexpected_content_type_raises_page_error() -> None:
    with pytest.raises(PageError, match="unexpected content type 'application/json'"):
        parse_project_page("foo-bar", fixture("foo-bar.json"), "application/json")


def test_html_with_unsupported_repository_version_raises_page_error() -> None:
    body = b'<html><head><meta name="pypi:repository-version" content="2.0"></head><body></body></html>'

    with pytest.raises(PageError, match="malformed HTML"):
        parse_project_page("foo-bar", body, HTML_TYPE)


def test_json_listing_with_serials() -> None:
    listing = parse_listing(fixture("index.json"), JSON_TYPE)

    assert listing.names == ("0", "foo-bar", "requests", "zope-interface", "django")
    assert listing.serials == {
        "0": 3075854,
        "foo-bar": 20711222,
        "requests": 27003015,
        "zope-interface": 26981330,
        "django": 27002988,
    }


def test_json_listing_without_every_serial_gives_none() -> None:
    body = b'{"meta": {"api-version": "1.0"}, "projects": [{"name": "a", "_last-serial": 1}, {"name": "B"}]}'

    listing = parse_listing(body, JSON_TYPE)

    assert listing.names == ("a", "b")
    assert listing.serials is None


def test_html_listing() -> None:
    listing = parse_listing(fixture("index.html"), HTML_TYPE)

    assert listing.names == ("0", "foo-bar", "requests", "zope-interface", "django")
    assert listing.serials is None


def test_html_listing_checked_against_its_url() -> None:
    listing = parse_listing(fixture("index.html"), HTML_TYPE, "https://pypi.example/simple")

    assert listing.names == ("0", "foo-bar", "requests", "zope-interface", "django")


PYPISERVER_WELCOME = b"""<!DOCTYPE html><html><head><title>Welcome to pypiserver!</title></head><body>
<p>The complete list of all packages can be found <a href="/packages/">here</a>
or via the <a href="/simple/">simple</a> index.</p>
<p>This instance is running version 2.0.1 of the <a href="https://pypi.org/project/pypiserver/">pypiserver</a>
software.</p></body></html>"""


def test_a_welcome_page_is_no_listing() -> None:
    with pytest.raises(PageError, match="not a simple-API project listing: 1 of 3 links lead to project pages"):
        parse_listing(PYPISERVER_WELCOME, HTML_TYPE, "http://127.0.0.1:8080")


@pytest.mark.parametrize(
    ("body", "url"),
    [
        # dumb-pypi: relative links to each project's index.html
        (
            b'<ul><li><a href="foo-bar/index.html">foo-bar</a></li><li><a href="b/index.html">b</a></li></ul>',
            "/simple/",
        ),
        # an Apache folder listing: sort orders and the parent folder are navigation
        (
            b'<html><a href="?C=N;O=D">Name</a><a href="?C=M;O=A">Last modified</a><a href="/">Parent Directory</a>'
            b'<a href="foo-bar/">foo-bar/</a><a href="b/">b/</a></html>',
            "/repo/simple",
        ),
        (b"<!DOCTYPE html><html><body><h1>Simple Index</h1></body></html>", "/simple/"),  # an empty index
    ],
)
def test_listings_of_static_servers_are_accepted(body: bytes, url: str) -> None:
    listing = parse_listing(body, HTML_TYPE, "http://127.0.0.1:8080" + url)

    assert listing.names in (("foo-bar", "b"), ())


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body><a href='../../files/\x00\xff\xfe<<a <</a>\x01", "control characters"),
        (b"Service temporarily unavailable, try later", "no anchors and no HTML structure"),
    ],
)
def test_garbled_html_is_not_taken_for_a_project_without_files(body: bytes, reason: str) -> None:
    with pytest.raises(PageError, match=reason):
        parse_project_page("foo", body, "text/html")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<!DOCTYPE html><html><body><h1>Links for foo</h1></body></html>", ()),  # a project with no files
        (b"<html>\n\t<body>\x0c</body></html>", ()),  # whitespace HTML allows
        (b'<a href="../../files/foo-1.0.tar.gz">foo-1.0.tar.gz</a>', ("1.0",)),  # bare anchors, no document
    ],
)
def test_minimal_html_pages_are_accepted(body: bytes, expected: tuple[str, ...]) -> None:
    page = parse_project_page("foo", body, "text/html")
    assert page.invalid_versions == ()
    assert page.versions == expected


def test_json_files_with_sha256_and_pep592_yanked() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "foo",
            "files": [
                {"filename": "foo-1.0.tar.gz", "url": "x", "hashes": {"sha256": "ab" * 32}},
                {"filename": "foo-1.1.tar.gz", "url": "x", "hashes": {}, "yanked": "broken build"},
                {"filename": "foo-1.2.tar.gz", "url": "x", "hashes": {}, "yanked": False},
            ],
        }
    ).encode()

    page = parse_project_page("foo", body, JSON_TYPE)

    assert page.name == "foo"
    assert page.files == (
        DistributionFile("foo-1.0.tar.gz", "ab" * 32, yanked=False),
        DistributionFile("foo-1.1.tar.gz", None, yanked=True, yanked_reason="broken build"),
        DistributionFile("foo-1.2.tar.gz", None, yanked=False),
    )
    assert page.versions == ("1.0", "1.1", "1.2")  # a yanked release is still a release


def test_html_files_with_sha256_fragment_and_data_yanked() -> None:
    body = (
        b"<html><body>"
        b'<a href="../../files/foo-1.0.tar.gz#sha256=' + b"CD" * 32 + b'">foo-1.0.tar.gz</a>'
        b'<a href="../../files/foo-1.1.tar.gz" data-yanked="">foo-1.1.tar.gz</a>'
        b"</body></html>"
    )

    page = parse_project_page("foo", body, HTML_TYPE)

    assert page.files == (
        DistributionFile("foo-1.0.tar.gz", "cd" * 32, yanked=False),
        DistributionFile("foo-1.1.tar.gz", None, yanked=True),
    )
    assert page.versions == ("1.0", "1.1")


@pytest.mark.parametrize(
    ("yanked", "reason"),
    [
        (True, None),
        ("", None),
        ("  ", None),
        ("CVE-2024-1\nsee\tissue", "CVE-2024-1 see issue"),
        ("bad\x00byte", "bad\\x00byte"),
        ("x" * 5000, "x" * (MAX_YANK_REASON - 3) + "..."),
        ({"not": "a string"}, None),
    ],
)
def test_json_yank_reason_is_cleaned_and_bounded(yanked: object, reason: str | None) -> None:
    entry = {"filename": "foo-1.0.tar.gz", "url": "x", "hashes": {}, "yanked": yanked}
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": [entry]}).encode()

    (file,) = parse_project_page("foo", body, JSON_TYPE).files

    assert file.yanked is True
    assert file.yanked_reason == reason


def test_json_sha256_is_kept_lower_case_and_only_when_valid() -> None:
    files = [
        {"filename": f"foo-1.{i}.tar.gz", "url": "x", "hashes": {"sha256": sha256}}
        for i, sha256 in enumerate(["AB" * 32, "ab" * 31, "zz" * 32, 42])
    ]
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": files}).encode()

    page = parse_project_page("foo", body, JSON_TYPE)

    assert [file.sha256 for file in page.files] == ["ab" * 32, None, None, None]


def test_html_yank_reason_is_the_data_yanked_value() -> None:
    body = (
        b"<html><body>"
        b'<a href="f/foo-1.0.tar.gz" data-yanked="broken &amp; withdrawn">foo-1.0.tar.gz</a>'
        b'<a href="f/foo-1.1.tar.gz" data-yanked>foo-1.1.tar.gz</a>'
        b'<a href="f/foo-1.2.tar.gz">foo-1.2.tar.gz</a>'
        b"</body></html>"
    )

    files = parse_project_page("foo", body, HTML_TYPE).files

    assert [(f.yanked, f.yanked_reason) for f in files] == [(True, "broken & withdrawn"), (True, None), (False, None)]


def test_files_by_version_groups_a_pages_files_by_normalized_version() -> None:
    body = json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": "foo",
            "versions": ["1.0", "2.0"],
            "files": [
                {"filename": name, "url": "x", "hashes": {}}
                for name in ("foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl", "Foo-2.0.0.zip", "bar-1.0.tar.gz", "junk")
            ],
        }
    ).encode()

    grouped = files_by_version(parse_project_page("foo", body, JSON_TYPE))

    assert {version: [f.filename for f in files] for version, files in grouped.items()} == {
        "1.0": ["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl"],
        "2.0.0": ["Foo-2.0.0.zip"],
    }


def test_listing_page_serial() -> None:
    body = b'{"meta": {"api-version": "1.1", "_last-serial": "42"}, "projects": [{"name": "A", "_last-serial": 7}]}'

    listing = parse_listing(body, JSON_TYPE)

    assert listing.names == ("a",)
    assert listing.serials == {"a": 7}
    assert listing.serial == 42
