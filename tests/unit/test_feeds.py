"""Tests of reading PyPI-style RSS feeds: parsing saved documents, and fetching them over HTTP."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from tests.support.servers import FeedServer, rss_packages, rss_updates
from thoth.package_releases.config import FeedConfig
from thoth.package_releases.normalize import PYPI_SIMPLE_URL
from thoth.package_releases.sources.feeds import FeedError, FeedItem, FeedResult, fetch_feed, parse_feed
from thoth.package_releases.sources.http import USER_AGENT

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
FEED_URL = "http://127.0.0.1:9/rss/updates.xml"
FEED = FeedConfig(url=FEED_URL, index_url=PYPI_SIMPLE_URL)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rss(*items: tuple[str, str], encoding: str = "UTF-8") -> bytes:
    """A minimal RSS 2.0 document with (title, link) items."""
    body = "".join(f"<item><title>{title}</title><link>{link}</link></item>" for title, link in items)
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://pypi.org/</link><description>d</description>{body}</channel></rss>"
    ).encode()


# -- parsing ---------------------------------------------------------------------------------------------------


def test_updates_feed_gives_normalized_releases_once_each() -> None:
    items, skipped = parse_feed(fixture("updates.xml"), FEED_URL)

    assert items == (
        FeedItem("foo-bar", "1.0.0"),
        FeedItem("django", "5.2.0rc1"),
        FeedItem("thoth-storages", "0.74.2"),  # odd title: read from the link
        FeedItem("requests", "2.32.3"),
    )
    assert len(skipped) == 1
    assert "legacy-dates 2004d" in skipped[0]
    assert "invalid version '2004d'" in skipped[0]
    assert skipped[0].startswith("item 3:")


def test_packages_feed_gives_names_without_versions() -> None:
    items, skipped = parse_feed(fixture("packages.xml"), "https://pypi.org/rss/packages.xml")

    assert items == (FeedItem("foo-bar", None), FeedItem("thamos", None), FeedItem("my-package", None))
    assert skipped == ()


def test_empty_feed_is_valid_and_has_no_items() -> None:
    assert parse_feed(fixture("empty.xml"), FEED_URL) == ((), ())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(fixture("error_page.html"), "not an RSS or Atom feed (it looks like HTML)", id="html-page"),
        pytest.param(fixture("truncated.xml"), "not well-formed XML", id="truncated-after-an-item"),
        pytest.param(fixture("updates.xml")[:300], "not well-formed XML", id="truncated-before-any-item"),
        pytest.param(b"", "empty document", id="empty-body"),
        pytest.param(b" \n\t", "empty document", id="blank-body"),
        pytest.param(b'{"releases": []}', "not well-formed XML", id="json"),
        pytest.param(b"<?xml version='1.0'?><status><ok/></status>", "not an RSS or Atom feed", id="other-xml"),
        pytest.param(b"\xff\xfe\x00\x01\x02garbage", "", id="binary"),
    ],
)
def test_documents_that_are_not_feeds_are_errors(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=r"^http://127\.0\.0\.1:9/rss/updates\.xml: ") as raised:
        parse_feed(body, FEED_URL)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_file_name_as_body_is_not_opened(tmp_path: Path) -> None:
    # feedparser opens bytes naming an existing file; the body must be read as a document, never as a path.
    local = tmp_path / "feed.xml"
    local.write_bytes(rss(("leaked 1.0", "https://pypi.org/project/leaked/1.0/")))
    with pytest.raises(FeedError):
        parse_feed(str(local).encode(), FEED_URL)


def test_a_wrongly_declared_encoding_is_harmless() -> None:
    # Declared UTF-8, written in Latin-1: feedparser notes it (bozo) but reads the document with its XML parser.
    body = rss(("caf\xe9-tools 1.0", "https://pypi.org/project/caf%C3%A9-tools/1.0/"), ("ok 2.0", "")).replace(
        b"UTF-8", b"utf-8"
    )
    body = body.decode().encode("latin-1")
    items, skipped = parse_feed(body, FEED_URL)

    assert items == (FeedItem("ok", "2.0"),)
    assert len(skipped) == 1
    assert "invalid package name" in skipped[0]


def test_atom_feeds_are_read_too() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>releases</title><id>urn:x</id><updated>2026-11-28T10:00:00Z</updated>
<entry><title>numpy 2.1.3</title><link href="https://pypi.org/project/numpy/2.1.3/"/><id>urn:1</id>
<updated>2026-11-28T10:00:00Z</updated></entry></feed>"""
    assert parse_feed(body, FEED_URL) == ((FeedItem("numpy", "2.1.3"),), ())


@pytest.mark.parametrize(
    ("title", "link", "expected"),
    [
        pytest.param("pkg 1.0", "", FeedItem("pkg", "1.0"), id="title-only"),
        pytest.param("", "https://pypi.org/project/pkg/1.0/", FeedItem("pkg", "1.0"), id="link-only"),
        pytest.param("New release!", "https://pypi.org/project/Pkg/1.0", FeedItem("pkg", "1.0"), id="no-slash"),
        pytest.param("pkg 1.0", "https://example.com/blog/pkg", FeedItem("pkg", "1.0"), id="other-link"),
        pytest.param("  pkg \n 1.0 ", "", FeedItem("pkg", "1.0"), id="whitespace"),
        pytest.param("pkg v1.0", "", FeedItem("pkg", "1.0"), id="v-prefix-normalized"),
        pytest.param("pkg ADDED TO PyPI", "", FeedItem("pkg", None), id="added-any-case"),
        pytest.param(
            "pkg 1!2.0.post1", "https://pypi.org/project/pkg/1%212.0.post1/", FeedItem("pkg", "1!2.0.post1"), id="epoch"
        ),
    ],
)
def test_name_and_version_from_title_or_link(title: str, link: str, expected: FeedItem) -> None:
    items, skipped = parse_feed(rss((title, link)), FEED_URL)
    assert (items, skipped) == ((expected,), ())


@pytest.mark.parametrize(
    ("title", "link", "reason"),
    [
        pytest.param("", "", "(no title, no link): cannot read", id="nothing"),
        pytest.param("a new release of pkg", "https://pypi.org/", "cannot read a package name and version", id="odd"),
        pytest.param("pkg 1.0", "https://pypi.org/project/other/1.0/", "name different releases", id="disagree"),
        pytest.param("pkg 1.0", "https://pypi.org/project/pkg/", "name different releases", id="disagree-version"),
        pytest.param("-pkg- 1.0", "", "invalid package name '-pkg-'", id="bad-name"),
        pytest.param("pkg 1.0+", "", "invalid version '1.0+'", id="bad-version"),
    ],
)
def test_unreadable_items_are_skipped_with_a_reason(title: str, link: str, reason: str) -> None:
    items, skipped = parse_feed(rss((title, link), ("good 1.0", "")), FEED_URL)
    assert items == (FeedItem("good", "1.0"),)
    assert len(skipped) == 1
    assert skipped[0].startswith("item 1: ")
    assert reason in skipped[0]


def test_the_server_support_documents_parse() -> None:
    updates = rss_updates([("Alpha_One", "1.0"), ("beta", "2.0b1"), ("alpha-one", "1.0")])
    assert parse_feed(updates, FEED_URL) == ((FeedItem("alpha-one", "1.0"), FeedItem("beta", "2.0b1")), ())
    assert parse_feed(rss_packages(["New.Thing"]), FEED_URL) == ((FeedItem("new-thing", None),), ())


# -- fetching --------------------------------------------------------------------------------------------------


@responses.activate
def test_fetch_reads_the_feed_with_the_job_user_agent() -> None:
    responses.get(FEED_URL, body=fixture("updates.xml"), content_type="application/rss+xml")

    result = fetch_feed(FEED, timeout=5)

    assert isinstance(result, FeedResult)
    assert result.error is None
    assert result.url == FEED_URL
    assert result.index_url == PYPI_SIMPLE_URL
    assert len(result.items) == 4
    assert len(result.skipped) == 1
    request = responses.calls[0].request
    assert request.headers["User-Agent"] == USER_AGENT
    assert "application/rss+xml" in request.headers["Accept"]
    sent_with: dict[str, Any] = request.req_kwargs  # type: ignore[attr-defined]  # recorded by responses
    assert sent_with["verify"] not in (False, None, "")  # True, or the CA bundle REQUESTS_CA_BUNDLE names
    assert sent_with["stream"] is True


@responses.activate
def test_fetch_reads_a_feed_served_with_an_html_content_type_and_a_charset() -> None:
    latin1 = rss(("caf\xe9 1.0", ""), ("plain 2.0", "")).replace(b' encoding="UTF-8"', b"").decode().encode("latin-1")
    responses.get(FEED_URL, body=latin1, content_type="text/html; charset=iso-8859-1")

    result = fetch_feed(FEED, timeout=5)

    assert result.error is None
    assert result.items == (FeedItem("plain", "2.0"),)
    assert result.skipped == ("item 1: 'caf\xe9 1.0': invalid package name 'caf\xe9'",)


@responses.activate
def test_fetch_uses_the_session_given_and_leaves_it_open() -> None:
    responses.get(FEED_URL, body=fixture("empty.xml"))
    with requests.Session() as session:
        assert fetch_feed(FEED, timeout=5, session=session) == FeedResult(FEED_URL, PYPI_SIMPLE_URL)
        assert fetch_feed(FEED, timeout=5, session=session).error is None


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b"Not Found", "HTTP 404 Not Found"),
        (503, fixture("error_page.html"), "HTTP 503 Service Unavailable"),
        (204, b"", "HTTP 204"),
        (200, fixture("error_page.html"), "not an RSS or Atom feed (it looks like HTML)"),
        (200, fixture("truncated.xml"), "not well-formed XML"),
        (200, b"", "empty document"),
    ],
)
def test_fetch_failures_are_results(status: int, body: bytes, error: str) -> None:
    responses.get(FEED_URL, body=body, status=status)

    result = fetch_feed(FEED, timeout=5)

    assert result.items == ()
    assert result.error is not None
    assert result.error.startswith(FEED_URL)
    assert error in result.error


@responses.activate
def test_fetch_connection_error_is_a_result() -> None:
    responses.get(FEED_URL, body=requests.ConnectionError("Connection refused"))

    result = fetch_feed(FEED, timeout=5)

    assert result.error == f"{FEED_URL}: ConnectionError: Connection refused"


@responses.activate
def test_fetch_refuses_a_body_declared_too_large() -> None:
    responses.get(FEED_URL, body=fixture("updates.xml"), headers={"Content-Length": "50000000"})

    result = fetch_feed(FEED, timeout=5, max_bytes=1000)

    assert result.error == f"{FEED_URL}: the feed is larger than 1000 bytes (50000000 declared)"


@responses.activate
def test_fetch_stops_reading_a_body_that_grows_too_large() -> None:
    responses.get(FEED_URL, body=fixture("updates.xml"), auto_calculate_content_length=False)

    result = fetch_feed(FEED, timeout=5, max_bytes=1000)

    assert result.error == f"{FEED_URL}: the feed is larger than 1000 bytes"


@responses.activate
def test_fetch_never_raises_even_on_an_unexpected_failure() -> None:
    responses.get(FEED_URL, body=ValueError("something odd"))

    result = fetch_feed(FEED, timeout=5)

    assert result.error == f"{FEED_URL}: unexpected ValueError: something odd"


def test_fetch_from_a_real_server() -> None:
    with FeedServer() as server:
        url = server.set("/rss/packages.xml", fixture("packages.xml"))
        result = fetch_feed(FeedConfig(url=url), timeout=5)
        missing = fetch_feed(FeedConfig(url=server.url_for("/rss/other.xml")), timeout=5)

    assert result.error is None
    assert [item.package_name for item in result.items] == ["foo-bar", "thamos", "my-package"]
    assert missing.error is not None
    assert "HTTP 404" in missing.error


def test_fetch_gives_up_on_a_trickling_body_after_the_timeout() -> None:
    with FeedServer() as server:
        url = server.set("/rss/updates.xml", fixture("updates.xml"))
        server.trickle("/rss/updates.xml", seconds_per_byte=0.02)  # ~40 s for the whole document
        started = time.monotonic()
        result = fetch_feed(FeedConfig(url=url), timeout=0.5)
        elapsed = time.monotonic() - started

    assert result.error == f"{url}: body not received within 0.5 s"
    assert 0.5 <= elapsed < 40, "cut at the deadline, long before the whole document arrives"


def test_fetch_reports_a_connection_cut_in_the_middle_of_the_body() -> None:
    with FeedServer() as server:
        url = server.set("/rss/updates.xml", fixture("updates.xml"))
        server.truncate("/rss/updates.xml")
        result = fetch_feed(FeedConfig(url=url), timeout=5)

    assert result.items == ()
    assert result.error is not None
    assert "body not received" in result.error


def test_fetch_of_a_closed_port_is_a_result() -> None:
    with FeedServer() as server:
        url = server.url_for("/rss/updates.xml")
    result = fetch_feed(FeedConfig(url=url), timeout=2)

    assert result.error is not None
    assert result.error.startswith(f"{url}: connection refused by 127.0.0.1:")
