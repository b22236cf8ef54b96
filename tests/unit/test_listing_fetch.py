"""Unit tests of fetching the project listing as a stream (issue 14), against servers on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest

from tests.support.hostile import (
    HTML_TYPE,
    JSON_TYPE,
    HostileServer,
    Reply,
    Request,
    Routes,
    gzip_bomb,
    gzipped,
    ok,
    redirect,
)
from thoth.package_releases.sources.http import RequestFailed, new_session, stream
from thoth.package_releases.sources.index import FetchStatus, SimpleIndexClient
from thoth.package_releases.sources.limits import Allowance, MemoryBudget
from thoth.package_releases.values import PageValidators

COUNT = 20_000  # several pieces of a gzip stream
NAMES = [f"Project_{i:05d}" for i in range(COUNT)]


def listing_body(count: int = COUNT) -> bytes:
    projects = [{"name": name, "_last-serial": 1000 + i} for i, name in enumerate(NAMES[:count])]
    return json.dumps({"meta": {"api-version": "1.1", "_last-serial": 7777}, "projects": projects}).encode()


def html_body() -> bytes:
    anchors = "".join(f'<a href="/simple/{name}/">{name}</a>\n' for name in NAMES)
    return f"<!DOCTYPE html><html><body>{anchors}</body></html><!--SERIAL 7777-->".encode()


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def server(routes: Routes) -> Iterator[HostileServer]:
    with HostileServer(routes) as running:
        yield running


def client(server: HostileServer, max_body_bytes: int = 50 * 1024 * 1024) -> SimpleIndexClient:
    return SimpleIndexClient(f"{server.url}/simple", backoff=0, retries=2, max_body_bytes=max_body_bytes)


def check_whole(projects: Sequence[str], serials: Mapping[str, int] | None) -> None:
    assert len(projects) == COUNT
    assert "project-19999" in projects
    assert serials is not None
    assert serials["project-00000"] == 1000
    assert serials["project-19999"] == 1000 + COUNT - 1


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzipped), ("deflate", zlib.compress), (None, lambda body: body)],
)
def test_a_compressed_json_listing_is_read_as_it_arrives(
    routes: Routes, server: HostileServer, encoding: str | None, encode: Callable[[bytes], bytes]
) -> None:
    extra = (("Content-Encoding", encoding),) if encoding else ()
    routes.set("/simple/", ok(encode(listing_body()), JSON_TYPE, ("ETag", '"v1"'), *extra))

    with client(server) as simple:
        listing = simple.project_listing()

    assert listing.status is FetchStatus.OK, listing.error
    check_whole(listing.projects, listing.serials)
    assert listing.projects[0] == "project-00000"
    assert listing.validators == PageValidators(etag='"v1"', serial=7777)


def test_a_gzipped_html_listing_is_read_as_it_arrives(routes: Routes, server: HostileServer) -> None:
    routes.set("/simple/", ok(gzipped(html_body()), HTML_TYPE, ("Content-Encoding", "gzip")))

    with client(server) as simple:
        listing = simple.project_listing()

    assert listing.status is FetchStatus.OK, listing.error
    assert len(listing.projects) == COUNT
    assert listing.serials is None
    assert listing.validators.serial == 7777


def test_a_conditional_listing_request_may_be_answered_not_modified(routes: Routes, server: HostileServer) -> None:
    def conditional(request: Request) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, "Not Modified")
        return ok(listing_body(), JSON_TYPE, ("ETag", '"v1"'))

    routes.set("/simple/", conditional)
    old = PageValidators(etag='"v1"', serial=7777)

    with client(server) as simple:
        listing = simple.project_listing(old)

    assert listing.status is FetchStatus.NOT_MODIFIED
    assert listing.validators == old
    assert len(listing.projects) == 0


def test_a_listing_cut_off_or_unavailable_is_retried(routes: Routes, server: HostileServer) -> None:
    body = gzipped(listing_body())
    answers = [
        Reply(503, "Service Unavailable"),
        # a body shorter than its length: the connection closes in the middle of the stream
        Reply(
            200,
            "OK",
            (
                ("Content-Type", JSON_TYPE),
                ("Content-Encoding", "gzip"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ),
            body[: len(body) // 2],
            raw_headers=True,
        ),
        ok(body, JSON_TYPE, ("Content-Encoding", "gzip")),
    ]
    routes.set("/simple/", lambda request: answers.pop(0))

    with client(server) as simple:
        listing = simple.project_listing()

    assert listing.status is FetchStatus.OK, listing.error
    check_whole(listing.projects, listing.serials)
    assert server.paths == ["/simple/"] * 3


def test_a_listing_that_is_no_listing_is_not_retried(routes: Routes, server: HostileServer) -> None:
    routes.set("/simple/", ok(b'{"meta": {"api-version": "1.1"}, "projects": [{"name": 1}]}', JSON_TYPE))

    with client(server) as simple:
        listing = simple.project_listing()

    assert listing.status is FetchStatus.FAILED
    assert listing.error == f'malformed JSON: a project without a "name" ({server.url}/simple/)'
    assert server.paths == ["/simple/"]


def test_a_listing_is_redirected_within_its_origin_only(routes: Routes, server: HostileServer) -> None:
    routes.set("/simple/", redirect("/moved/simple/", 301))
    routes.set("/moved/simple/", ok(gzipped(listing_body()), JSON_TYPE, ("Content-Encoding", "gzip")))
    with client(server) as simple:
        listing = simple.project_listing()
    assert listing.status is FetchStatus.OK, listing.error
    check_whole(listing.projects, listing.serials)

    routes.set("/simple/", redirect("http://localhost:1/simple/"))
    with client(server) as simple:
        refused = simple.project_listing()
    assert refused.status is FetchStatus.FAILED
    assert refused.error is not None
    assert "redirect to another origin http://localhost:1 refused" in refused.error


def test_a_gzip_bomb_listing_is_cut_at_the_listing_limit(routes: Routes, server: HostileServer) -> None:
    """Blanks are valid JSON padding: the limit on decompressed bytes ends the read, once, without retry."""
    routes.set("/simple/", ok(gzip_bomb(50 * 1024 * 1024), JSON_TYPE, ("Content-Encoding", "gzip")))

    with client(server, max_body_bytes=1024 * 1024) as simple:  # the listing's limit is ten times that
        listing = simple.project_listing()

    assert listing.status is FetchStatus.FAILED
    assert listing.error == f"body exceeds {10 * 1024 * 1024} bytes from {server.url}/simple/"
    assert server.paths == ["/simple/"]


# --- the streamed GET -----------------------------------------------------------------------------------------


def test_a_streamed_body_takes_one_piece_at_a_time_from_the_allowance(routes: Routes, server: HostileServer) -> None:
    body = listing_body()
    routes.set("/simple/", ok(gzipped(body), JSON_TYPE, ("Content-Encoding", "gzip")))
    budget = MemoryBudget(1024 * 1024)
    session = new_session({})

    allowance = Allowance(budget)
    most = 0
    received = b""
    with stream(session, f"{server.url}/simple/", timeout=5, max_bytes=10**8, allowance=allowance) as answer:
        assert answer.status == 200
        for piece in answer.pieces:
            most = max(most, allowance.taken)
            received += piece
    assert received == body
    assert 0 < most <= 64 * 1024  # one piece held at a time
    assert (allowance.taken, budget.used) == (0, 0)

    held = Allowance(budget)
    with stream(session, f"{server.url}/simple/", timeout=5, max_bytes=10**8, allowance=held) as answer:
        next(answer.pieces)  # the consumer leaves early: what it took is given back
    assert (held.taken, budget.used) == (0, 0)


def test_a_stream_is_cut_short_by_a_stop(routes: Routes, server: HostileServer) -> None:
    routes.set("/simple/", ok(gzip_bomb(400 * 1024 * 1024), JSON_TYPE, ("Content-Encoding", "gzip")))
    stop = threading.Event()

    def read_and_stop() -> None:
        url = f"{server.url}/simple/"
        with stream(new_session({}), url, timeout=5, max_bytes=10**9, should_stop=stop.is_set) as answer:
            for count, _ in enumerate(answer.pieces):
                if count == 10:
                    stop.set()

    with pytest.raises(RequestFailed, match="the run is stopping"):
        read_and_stop()
