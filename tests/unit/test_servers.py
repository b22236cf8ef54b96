"""Focused tests of the local HTTP servers that the e2e, fault and benchmark runs rely on."""

from __future__ import annotations

import gzip
import http.client
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, push_to_gateway

from tests.support.servers import (
    HTML_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    FeedServer,
    IndexServer,
    PushGatewayStandIn,
    WebhookReceiver,
    rss_packages,
    rss_updates,
    synthetic_projects,
)

ROOT = Path(__file__).resolve().parents[2]
PIP_ACCEPT = f"{JSON_CONTENT_TYPE}, {HTML_CONTENT_TYPE};q=0.2, text/html;q=0.01"
JSON_ACCEPT = {"Accept": JSON_CONTENT_TYPE}


@pytest.fixture
def index() -> Iterator[IndexServer]:
    with IndexServer({"Foo_Bar": ["1.0", "1.1"], "baz": ["0.1"]}) as server:
        yield server
    assert server.errors == []  # no unexpected exception in a handler


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


# -- index: pages -------------------------------------------------------------------------------------


def test_json_and_html_negotiation(index: IndexServer, session: requests.Session) -> None:
    url = index.project_url("Foo_Bar")
    assert url == f"http://127.0.0.1:{index.port}/simple/foo-bar/"

    response = session.get(url, headers={"Accept": PIP_ACCEPT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    page = response.json()
    assert page["meta"] == {"api-version": "1.1", "_last-serial": response.headers["X-PyPI-Last-Serial"]}
    assert page["name"] == "foo-bar"
    assert page["versions"] == ["1.0", "1.1"]
    assert [f["filename"] for f in page["files"]] == [
        "Foo_Bar-1.0.tar.gz",
        "Foo_Bar-1.0-py3-none-any.whl",
        "Foo_Bar-1.1.tar.gz",
        "Foo_Bar-1.1-py3-none-any.whl",
    ]
    first = page["files"][0]
    assert len(first["hashes"]["sha256"]) == 64
    int(first["hashes"]["sha256"], 16)
    assert first["url"] == "../../files/Foo_Bar-1.0.tar.gz"
    assert (first["requires-python"], first["yanked"], first["upload-time"]) == (
        None,
        False,
        "2024-01-01T00:00:00.000000Z",
    )

    html_page = session.get(url)  # requests sends Accept: */*
    assert html_page.headers["Content-Type"] == "text/html"
    assert "<h1>Links for Foo_Bar</h1>" in html_page.text
    assert f'<a href="../../files/Foo_Bar-1.0.tar.gz#sha256={first["hashes"]["sha256"]}">' in html_page.text
    assert session.get(url, headers={"Accept": HTML_CONTENT_TYPE}).headers["Content-Type"] == HTML_CONTENT_TYPE

    redirect = session.get(f"{index.base_url}/Foo_Bar/", allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/simple/foo-bar/")
    assert session.get(f"{index.base_url}/Foo_Bar/", headers=JSON_ACCEPT).json()["name"] == "foo-bar"
    assert session.get(f"{index.base_url}/nope/").status_code == 404

    index.set_formats("html")  # an index without PEP 691 answers HTML whatever is asked
    assert session.get(url, headers=JSON_ACCEPT).headers["Content-Type"] == "text/html"
    index.set_formats("json")
    assert session.get(url, headers={"Accept": "text/html"}).status_code == 406


def test_etag_and_304(index: IndexServer, session: requests.Session) -> None:
    url = index.project_url("baz")
    first = session.get(url, headers=JSON_ACCEPT)
    etag = first.headers["ETag"]
    assert etag.startswith('"')  # strong
    assert etag.endswith('"')
    assert first.headers["Last-Modified"]

    again = session.get(url, headers={**JSON_ACCEPT, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert again.headers["X-PyPI-Last-Serial"] == first.headers["X-PyPI-Last-Serial"]
    assert index.requests[-1].headers["if-none-match"] == etag  # recorded, any case

    html_etag = session.get(url, headers={"Accept": "text/html"}).headers["ETag"]
    assert html_etag != etag
    assert session.get(url, headers={"Accept": "text/html", "If-None-Match": etag}).status_code == 200


def test_keep_alive_connection_is_reused(index: IndexServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", index.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/simple/baz/", headers=JSON_ACCEPT)
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
            assert len(body) == int(response.headers["Content-Length"])
            assert not response.will_close
    finally:
        connection.close()


def test_publish_bumps_serials_and_invalidates(index: IndexServer, session: requests.Session) -> None:
    url = index.project_url("Foo_Bar")
    before = session.get(url, headers=JSON_ACCEPT)
    baz_serial = index.project_serial("baz")

    serial = index.publish("foo-bar", "2.0")

    assert int(before.headers["X-PyPI-Last-Serial"]) == 1
    assert serial == index.serial == 3  # the global serial: Foo_Bar=1, baz=2, this release=3
    after = session.get(url, headers={**JSON_ACCEPT, "If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["X-PyPI-Last-Serial"] == str(serial)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.json()["versions"] == ["1.0", "1.1", "2.0"]
    assert after.json()["meta"]["_last-serial"] == str(serial)
    assert index.project_serial("baz") == baz_serial
    with pytest.raises(ValueError, match="already published"):
        index.publish("Foo_Bar", "2.0")

    index.remove_project("baz")
    assert session.get(index.project_url("baz")).status_code == 404


def test_listing_json_with_serials(index: IndexServer, session: requests.Session) -> None:
    listing = session.get(f"{index.base_url}/", headers=JSON_ACCEPT)
    assert listing.headers["X-PyPI-Last-Serial"] == "2"
    assert listing.json() == {
        "meta": {"api-version": "1.1", "_last-serial": "2"},
        "projects": [{"name": "Foo_Bar", "_last-serial": 1}, {"name": "baz", "_last-serial": 2}],
    }
    not_modified = session.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "If-None-Match": listing.headers["ETag"]})
    assert not_modified.status_code == 304

    index.publish("new-project", "0.1")
    index.listing_serials = False
    projects = session.get(f"{index.base_url}/", headers=JSON_ACCEPT).json()["projects"]
    assert projects == [{"name": "Foo_Bar"}, {"name": "baz"}, {"name": "new-project"}]
    assert '<a href="/simple/foo-bar/">Foo_Bar</a>' in session.get(f"{index.base_url}/").text


def test_listing_gzip_with_its_own_etag_and_a_304_without_rendering(session: requests.Session) -> None:
    with IndexServer(synthetic_projects(50, 1), record=False, page_cache=10) as index:
        identity = session.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "Accept-Encoding": "identity"})
        raw = requests.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "Accept-Encoding": "gzip"}, stream=True)
        packed = raw.raw.read(decode_content=False)
        assert "Content-Encoding" not in identity.headers
        assert raw.headers["Content-Encoding"] == "gzip"
        assert int(raw.headers["Content-Length"]) == len(packed) < len(identity.content)
        assert json.loads(gzip.decompress(packed)) == identity.json()
        assert raw.headers["ETag"] != identity.headers["ETag"]  # two representations

        index.publish("pkg-00007", "2.0")
        for etag in (raw.headers["ETag"], identity.headers["ETag"]):
            again = session.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "If-None-Match": etag})
            assert again.status_code == 200  # the listing changed
        current = again.headers["ETag"]
        assert session.get(f"{index.base_url}/", headers={**JSON_ACCEPT, "If-None-Match": current}).status_code == 304
        first = session.get(index.project_url("pkg-00001"), headers=JSON_ACCEPT)
        index._pages.clear()  # a 304 is answered from the serial alone: no page is rendered for it
        not_modified = session.get(
            index.project_url("pkg-00001"), headers={**JSON_ACCEPT, "If-None-Match": first.headers["ETag"]}
        )
        assert not_modified.status_code == 304
        assert not_modified.headers["ETag"] == first.headers["ETag"]
        assert index._pages == {}

        for number in range(1, 31):  # at most 10 pages are kept
            assert session.get(index.project_url(f"pkg-{number:05d}"), headers=JSON_ACCEPT).status_code == 200
        assert len(index._pages) <= 10


# -- index: faults ------------------------------------------------------------------------------------


def test_fail_twice_then_ok(index: IndexServer, session: requests.Session) -> None:
    index.fail("Foo_Bar", status=503, times=2, retry_after="1")
    url = index.project_url("foo-bar")

    first, second, third = (session.get(url, headers=JSON_ACCEPT) for _ in range(3))

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "1"
    assert index.status_counts() == {503: 2, 200: 1}
    assert [r.status for r in index.requests] == [503, 503, 200]
    assert index.pending_faults("foo-bar") == []
    assert index.bytes_sent > len(third.content)


def test_reset_raises_connection_error(index: IndexServer, session: requests.Session) -> None:
    index.reset("baz")
    with pytest.raises(requests.ConnectionError):
        session.get(index.project_url("baz"))
    assert index.requests[-1].status == 0
    assert session.get(index.project_url("baz")).status_code == 200


def test_truncate_raises(index: IndexServer, session: requests.Session) -> None:
    index.truncate("baz")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # urllib3's IncompleteRead
        session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    assert session.get(index.project_url("baz"), headers=JSON_ACCEPT).json()["versions"] == ["0.1"]


def test_hang_and_trickle(index: IndexServer, session: requests.Session) -> None:
    index.hang("baz", seconds=30)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(index.project_url("baz"), timeout=0.3)
    assert time.monotonic() - started < 30, "the client's timeout, not the end of the hang"

    index.trickle("baz", seconds_per_byte=0.002, bytes_per_write=25)
    started = time.monotonic()
    response = session.get(index.project_url("baz"), headers={"Accept": "text/html"}, timeout=5)
    assert len(response.content) > 300
    assert time.monotonic() - started > 0.5
    assert "baz-0.1.tar.gz" in response.text


def test_stale_serial_is_served_once(index: IndexServer, session: requests.Session) -> None:
    old_serial = index.project_serial("baz")
    current = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    new_serial = index.publish("baz", "0.2")
    fresh_etag = session.get(index.project_url("baz"), headers=JSON_ACCEPT).headers["ETag"]

    index.stale("baz", old_serial)
    stale = session.get(index.project_url("baz"), headers={**JSON_ACCEPT, "If-None-Match": fresh_etag})
    assert stale.status_code == 200
    assert stale.headers["X-PyPI-Last-Serial"] == str(old_serial)
    assert stale.json()["meta"]["_last-serial"] == str(old_serial)
    assert stale.json()["versions"] == ["0.1"]
    assert stale.headers["ETag"] != fresh_etag
    assert stale.headers["ETag"] == current.headers["ETag"]  # exactly the page as it was

    again = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    assert again.headers["X-PyPI-Last-Serial"] == str(new_serial)
    assert again.json()["versions"] == ["0.1", "0.2"]


def test_malformed_pages(index: IndexServer, session: requests.Session) -> None:
    index.malformed("baz", "json")
    broken = session.get(index.project_url("baz"), headers=JSON_ACCEPT)
    assert broken.status_code == 200
    assert broken.headers["Content-Type"] == JSON_CONTENT_TYPE
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        broken.json()

    index.malformed("baz", "content_type")
    assert session.get(index.project_url("baz")).headers["Content-Type"] == "application/octet-stream"
    with pytest.raises(ValueError, match="unknown malformed kind"):
        index.malformed("baz", "nonsense")


def test_oversize_streams_the_size(index: IndexServer, session: requests.Session) -> None:
    size = 5_000_000
    index.oversize("baz", size)
    with session.get(index.project_url("baz"), headers=JSON_ACCEPT, stream=True) as response:
        assert response.headers["Content-Length"] == str(size)
        assert sum(len(chunk) for chunk in response.iter_content(256 * 1024)) == size

    index.oversize("baz", 300_000, chunked=True)
    with session.get(index.project_url("baz"), stream=True) as response:
        assert "Content-Length" not in response.headers
        assert sum(len(chunk) for chunk in response.iter_content(65536)) == 300_000
    assert session.get(index.project_url("baz"), headers=JSON_ACCEPT).json()["name"] == "baz"


def test_down_and_up_on_the_same_port(index: IndexServer, session: requests.Session) -> None:
    assert session.get(index.project_url("baz")).status_code == 200  # leaves a keep-alive connection open
    port = index.port

    index.down()
    with pytest.raises(requests.ConnectionError):
        session.get(index.project_url("baz"), timeout=2)

    index.up()
    assert index.port == port
    assert session.get(index.project_url("baz")).status_code == 200


# -- gates --------------------------------------------------------------------------------------------


def test_a_gate_holds_a_page_until_released_while_other_pages_are_served(
    index: IndexServer, session: requests.Session
) -> None:
    gate = index.hold("BAZ")  # any spelling of the project
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, index.project_url("baz"), headers=JSON_ACCEPT, timeout=30)
        gate.wait_held(1)

        assert session.get(index.project_url("Foo_Bar"), headers=JSON_ACCEPT).status_code == 200
        assert [(r.path, r.status) for r in index.requests] == [("/simple/baz/", None), ("/simple/foo-bar/", 200)]
        assert not held.done()

        gate.release()
        assert held.result().json()["versions"] == ["0.1"]
    assert (gate.held, gate.arrived) == (0, 1)
    assert session.get(index.project_url("baz"), headers=JSON_ACCEPT).status_code == 200  # released stays open
    assert gate.arrived == 1


def test_a_gate_without_targets_holds_every_request_and_counts_them(session: requests.Session) -> None:
    with WebhookReceiver() as hooks, hooks.hold() as gate, ThreadPoolExecutor(2) as pool:
        posts = [pool.submit(requests.post, f"{hooks.url}/hook/{i}", json={"n": i}, timeout=30) for i in range(2)]
        gate.wait_held(2)
        assert gate.held == 2
        assert [r.status for r in hooks.requests] == [None, None]
        gate.release()
        assert [post.result().status_code for post in posts] == [200, 200]


def test_stopping_a_server_drops_the_requests_held_at_its_gates() -> None:
    index = IndexServer({"baz": ["0.1"]}).start()
    gate = index.hold(IndexServer.ANY)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(requests.get, index.project_url("baz"), timeout=30)
        gate.wait_held(1)
        index.stop()
        with pytest.raises(requests.ConnectionError):
            held.result()
    assert index.wait_for(1)  # the handler has given up the request: dropped without an answer
    assert gate.held == 0
    assert [r.status for r in index.requests] == [0]


def test_dropping_a_gate_drops_the_held_requests_unanswered_and_lets_later_ones_through(
    session: requests.Session,
) -> None:
    with WebhookReceiver() as hooks, ThreadPoolExecutor(1) as pool:
        gate = hooks.hold("/hook")
        held = pool.submit(requests.post, f"{hooks.url}/hook", json={}, timeout=30)
        gate.wait_held(1)
        gate.drop()
        with pytest.raises(requests.ConnectionError):
            held.result()
        assert session.post(f"{hooks.url}/hook", json={}).status_code == 200
        assert hooks.wait_for(2)
        assert [r.status for r in hooks.requests] == [0, 200]
        assert (gate.held, gate.arrived) == (0, 1)


def test_wait_held_fails_when_the_client_is_gone_or_never_comes(index: IndexServer) -> None:
    gate = index.hold("baz")
    with pytest.raises(AssertionError, match="ended with 0 of 1"):
        gate.wait_held(1, alive=lambda: False)
    with pytest.raises(AssertionError, match="never held"):
        gate.wait_held(1, timeout=0.01)


# -- webhooks, feeds, push gateway --------------------------------------------------------------------


def test_webhook_status_sequence_and_recording(session: requests.Session) -> None:
    with WebhookReceiver() as hooks:
        hooks.respond_with([500, 503])
        statuses = [
            session.post(
                f"{hooks.url}/hooks/{i}", json={"package": "foo", "n": i}, headers={"X-Token": "t"}
            ).status_code
            for i in range(3)
        ]
        assert statuses == [500, 503, 200]
        assert hooks.wait_for(3)
        assert [(r.method, r.path, r.status) for r in hooks.requests] == [
            ("POST", "/hooks/0", 500),
            ("POST", "/hooks/1", 503),
            ("POST", "/hooks/2", 200),
        ]
        assert hooks.json_bodies()[2] == {"package": "foo", "n": 2}
        assert hooks.requests[0].headers["x-token"] == hooks.requests[0].headers["X-Token"] == "t"

        hooks.clear_requests()
        hooks.default_status = 204
        hooks.delay(0.3)
        started = time.monotonic()
        assert session.put(f"{hooks.url}/any", data=b"raw").status_code == 204
        assert time.monotonic() - started >= 0.3
        assert hooks.requests[0].body == b"raw"
        assert not hooks.wait_for(2, timeout=0.1)


def test_feed_helpers_and_server(session: requests.Session) -> None:
    updates = rss_updates([("foo", "1.0"), ("Bar_Baz", "2.0rc1")])
    channel = ET.fromstring(updates).find("channel")
    assert channel is not None
    assert channel.findtext("title") == "PyPI recent updates"
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == ["foo 1.0", "Bar_Baz 2.0rc1"]
    assert items[1].findtext("link") == "https://pypi.org/project/Bar_Baz/2.0rc1/"
    assert items[0].find("guid") is None
    assert parsedate_to_datetime(items[0].findtext("pubDate") or "") > parsedate_to_datetime(
        items[1].findtext("pubDate") or ""
    )

    packages = ET.fromstring(rss_packages(["new-one"])).find("channel")
    assert packages is not None
    assert packages.findtext("item/title") == "new-one added to PyPI"
    assert packages.findtext("item/link") == "https://pypi.org/project/new-one/"

    with FeedServer() as feeds:
        url = feeds.set("/rss/updates.xml", updates)
        response = session.get(url)
        assert response.headers["Content-Type"] == "application/rss+xml"
        assert [e.title for e in feedparser.parse(response.content).entries] == ["foo 1.0", "Bar_Baz 2.0rc1"]
        assert session.get(url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
        assert session.get(feeds.url_for("/rss/packages.xml")).status_code == 404
        feeds.fail("/rss/updates.xml", status=500)
        assert session.get(url).status_code == 500
        assert session.get(url).status_code == 200


def test_push_gateway_stand_in() -> None:
    registry = CollectorRegistry()
    Counter("releases_found", "New releases found", registry=registry).inc(3)
    with PushGatewayStandIn() as gateway:
        push_to_gateway(gateway.url, job="package-releases", registry=registry, grouping_key={"shard": "0/2"})

        [push] = gateway.pushes
        assert (push.method, push.job, push.labels, push.status) == ("PUT", "package-releases", {"shard": "0/2"}, 200)
        assert "releases_found_total 3.0" in (gateway.last_body_for("package-releases") or "")
        assert gateway.last_body_for("other") is None

        gateway.respond_with(500)
        with pytest.raises(OSError, match="500"):
            push_to_gateway(gateway.url, job="package-releases", registry=registry)
        assert gateway.pushes[-1].status == 500


# -- standalone process -------------------------------------------------------------------------------


def test_standalone_index_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.servers", "index", "--projects", "5", "--versions", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/simple")
        root = base_url.removesuffix("/simple")
        with requests.Session() as session:
            page = session.get(f"{base_url}/pkg-00005/", headers=JSON_ACCEPT).json()
            assert page["versions"] == ["1.0.0", "1.0.1", "1.0.2"]

            published = session.post(f"{root}/_control/publish", json={"releases": [["pkg-00005", "2.0.0"]]})
            assert published.json() == {"published": 1, "serial": 6}
            page = session.get(f"{base_url}/pkg-00005/", headers=JSON_ACCEPT).json()
            assert page["versions"][-1] == "2.0.0"

            stats = session.get(f"{root}/_control/stats").json()
            assert stats["status_counts"] == {"200": 2}
            assert stats["bytes_sent"] > 0
            session.post(f"{root}/_control/reset-stats")
            assert session.get(f"{root}/_control/stats").json()["status_counts"] == {}

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
