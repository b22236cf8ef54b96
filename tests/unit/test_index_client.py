"""Unit tests of the simple-API client: its HTTP behaviour against `responses` mocks."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from tests.support.http_traffic import Traffic
from tests.unit.test_pages import fixture, json_page
from thoth.package_releases import __version__
from thoth.package_releases.sources.http import USER_AGENT
from thoth.package_releases.sources.index import FetchStatus, ProjectResult, SimpleIndexClient
from thoth.package_releases.sources.pages import ACCEPT
from thoth.package_releases.values import PageValidators

FIXTURES = Path(__file__).parent / "fixtures" / "simple"
INDEX = "http://127.0.0.1:8080/simple"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html; charset=utf-8"
FOO_BAR_URL = f"{INDEX}/foo-bar/"


class Sleeps:
    """A sleep hook that records the delays asked for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def traffic(mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> Traffic:
    return Traffic().install(monkeypatch)


@pytest.fixture
def client(sleeps: Sleeps) -> Iterator[SimpleIndexClient]:
    with SimpleIndexClient(INDEX, backoff=0, retries=2, sleep=sleeps) as simple:
        yield simple


# --- fetching -------------------------------------------------------------------------------------------------


def test_ok_json_page_with_validators_from_headers(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(
        FOO_BAR_URL,
        body=fixture("foo-bar.json"),
        content_type=JSON_TYPE,
        headers={"ETag": '"abc"', "Last-Modified": "Wed, 01 Nov 2023 10:00:00 GMT", "X-PyPI-Last-Serial": "20711300"},
    )

    result = client.project_versions("Foo_Bar")

    assert result.project == "foo-bar"
    assert result.status is FetchStatus.OK
    assert result.versions == ("1.0.0rc1", "1.0", "1.1", "2.0b1")
    assert result.invalid_versions == ("0.9.8-final",)
    # The header wins over the body's meta._last-serial (20711222).
    assert result.validators == PageValidators('"abc"', "Wed, 01 Nov 2023 10:00:00 GMT", 20711300)
    assert result.error is None


def test_serial_from_meta_without_header(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=fixture("foo-bar.json"), content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.validators == PageValidators(etag=None, last_modified=None, serial=20711222)


def test_html_page_fetched(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=fixture("foo-bar.html"), content_type=HTML_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert result.versions == ("0.9", "1.0.0rc1", "1.0", "1.1")
    assert result.validators.serial == 20711222


def test_gzip_encoded_body_is_decoded(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    compressed = gzip.compress(json_page(versions=["4.2"]))
    mocked.get(FOO_BAR_URL, body=compressed, content_type=JSON_TYPE, headers={"Content-Encoding": "gzip"})

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert result.versions == ("4.2",)


def test_user_agent_and_accept_are_sent(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(
        FOO_BAR_URL,
        body=json_page(versions=["1.0"]),
        content_type=JSON_TYPE,
        match=[matchers.header_matcher({"User-Agent": USER_AGENT, "Accept": ACCEPT})],
    )

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert USER_AGENT.startswith(f"thoth-package-releases/{__version__} (+https://")


def test_conditional_request_and_not_modified_keeps_validators(
    mocked: responses.RequestsMock, client: SimpleIndexClient
) -> None:
    old = PageValidators(etag='W/"v1"', last_modified="Wed, 01 Nov 2023 10:00:00 GMT", serial=500)
    mocked.get(FOO_BAR_URL, status=304, headers={"ETag": 'W/"v1"'})

    result = client.project_versions("foo-bar", old)

    assert result.status is FetchStatus.NOT_MODIFIED
    assert result.validators == old
    assert result.versions == ()
    sent = mocked.calls[0].request.headers
    assert sent["If-None-Match"] == 'W/"v1"'
    assert sent["If-Modified-Since"] == "Wed, 01 Nov 2023 10:00:00 GMT"


def test_unconditional_request_without_validators(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=json_page(versions=[]), content_type=JSON_TYPE)

    client.project_versions("foo-bar", PageValidators(serial=3))

    sent = mocked.calls[0].request.headers
    assert "If-None-Match" not in sent
    assert "If-Modified-Since" not in sent


@pytest.mark.parametrize(("header_serial", "expected"), [("600", 600), ("400", 500), (None, 500)])
def test_not_modified_takes_only_a_newer_serial(
    mocked: responses.RequestsMock, client: SimpleIndexClient, header_serial: str | None, expected: int
) -> None:
    headers = {"X-PyPI-Last-Serial": header_serial} if header_serial else {}
    mocked.get(FOO_BAR_URL, status=304, headers=headers)

    result = client.project_versions("foo-bar", PageValidators(etag='"v1"', serial=500))

    assert result.status is FetchStatus.NOT_MODIFIED
    assert result.validators == PageValidators(etag='"v1"', serial=expected)


@pytest.mark.parametrize("status", [404, 410])
def test_missing_project_is_not_found(mocked: responses.RequestsMock, client: SimpleIndexClient, status: int) -> None:
    mocked.get(f"{INDEX}/gone/", status=status, body="Not Found")

    result = client.project_versions("gone")

    assert result.status is FetchStatus.NOT_FOUND
    assert result.error is None
    assert len(mocked.calls) == 1


def test_stale_page_is_fetched_again_without_caches(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"], serial="90"), content_type=JSON_TYPE)
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0", "1.1"], serial="101"), content_type=JSON_TYPE)

    result = client.project_versions("foo-bar", PageValidators(etag='"old"', last_modified="x", serial=100))

    assert result.status is FetchStatus.OK
    assert result.versions == ("1.0", "1.1")
    assert result.validators.serial == 101
    assert len(mocked.calls) == 2
    first, second = (call.request.headers for call in mocked.calls)
    assert first["If-None-Match"] == '"old"'
    assert second["Cache-Control"] == "no-cache"
    assert second["Pragma"] == "no-cache"
    assert "If-None-Match" not in second
    assert "If-Modified-Since" not in second


def test_page_still_stale_after_one_retry_is_stale(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    old = PageValidators(etag='"old"', serial=100)
    mocked.get(
        FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE, headers={"X-PyPI-Last-Serial": "90"}
    )

    result = client.project_versions("foo-bar", old)

    assert result.status is FetchStatus.STALE
    assert result.error == "stale page: serial 90 < recorded 100"
    assert result.validators == old
    assert result.versions == ()
    assert len(mocked.calls) == 2


def test_503_then_200_succeeds(mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic) -> None:
    mocked.get(FOO_BAR_URL, status=503, body="busy")
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert result.versions == ("1.0",)
    assert traffic.requests - 1 == 1  # one retry of the one page
    assert traffic.by_status == {"503": 1, "200": 1}


def test_retry_after_seconds_is_honoured(
    mocked: responses.RequestsMock, client: SimpleIndexClient, sleeps: Sleeps
) -> None:
    mocked.get(FOO_BAR_URL, status=429, headers={"Retry-After": "7"})
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert sleeps.delays == [7.0]


def test_retry_after_http_date_is_honoured_and_capped(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    mocked.get(FOO_BAR_URL, status=503, headers={"Retry-After": soon})
    mocked.get(FOO_BAR_URL, status=503, headers={"Retry-After": "3600"})
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, backoff=0, retries=2, sleep=sleeps) as simple:
        result = simple.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert len(sleeps.delays) == 2
    assert 17 <= sleeps.delays[0] <= 20
    assert sleeps.delays[1] == 60.0


def test_backoff_grows_exponentially_with_jitter(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.get(FOO_BAR_URL, status=502)

    with SimpleIndexClient(INDEX, backoff=1.0, retries=3, sleep=sleeps) as simple:
        result = simple.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert len(sleeps.delays) == 3
    for attempt, delay in enumerate(sleeps.delays):
        assert 2**attempt <= delay <= 1.5 * 2**attempt


def test_persistent_500_fails_after_all_attempts(
    mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic
) -> None:
    mocked.get(FOO_BAR_URL, status=500, body="oops")

    result = client.project_versions("foo-bar", PageValidators(etag='"keep"'))

    assert result.status is FetchStatus.FAILED
    assert result.error == f"HTTP 500 from {FOO_BAR_URL} after 3 attempts"
    assert result.validators == PageValidators(etag='"keep"')
    assert len(mocked.calls) == 3
    assert traffic.requests - 1 == 2  # two retries of the one page


def test_other_client_errors_are_not_retried(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, status=403, body="Forbidden")

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error == f"HTTP 403 from {FOO_BAR_URL}"
    assert len(mocked.calls) == 1


def test_wrong_content_type_fails_without_retry(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=b"%PDF-1.4", content_type="application/pdf")

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("unexpected content type 'application/pdf'")
    assert FOO_BAR_URL in result.error
    assert len(mocked.calls) == 1


def test_malformed_json_fails_without_retry(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=b'{"meta": {"api-version": "1.1"}, "files": [', content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("malformed JSON")
    assert len(mocked.calls) == 1


def test_oversized_body_fails_without_retry(mocked: responses.RequestsMock) -> None:
    mocked.get(FOO_BAR_URL, body=json_page(versions=[str(n) for n in range(200)]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, max_body_bytes=1000, backoff=0) as simple:
        result = simple.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error == f"body exceeds 1000 bytes from {FOO_BAR_URL}"
    assert len(mocked.calls) == 1


def test_a_body_past_the_memory_budget_alone_fails_without_retry_and_gives_its_bytes_back(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(f"{INDEX}/", body=json.dumps({"meta": {"api-version": "1.1"}, "projects": []}), content_type=JSON_TYPE)
    mocked.get(FOO_BAR_URL, body=json_page(versions=[str(n) for n in range(200)]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, memory_budget=1000, backoff=0) as simple:
        result = simple.project_versions("foo-bar")
        listing = simple.project_listing()

    assert result.status is FetchStatus.FAILED
    assert result.error == f"body over the memory budget of 1000 bytes from {FOO_BAR_URL}"
    assert len(mocked.calls) == 2  # the page once (no retry can make it fit), then the listing
    assert listing.status is FetchStatus.OK  # what the page took was given back


def test_pages_in_flight_share_the_memory_budget(mocked: responses.RequestsMock) -> None:
    body = json_page(versions=[str(n) for n in range(100)])
    names = [f"p{n}" for n in range(6)]
    for name in names:
        mocked.get(f"{INDEX}/{name}/", body=body, content_type=JSON_TYPE)
    gate = threading.Barrier(len(names), timeout=5)
    original = SimpleIndexClient._project_versions

    def together(self: SimpleIndexClient, *args: Any) -> ProjectResult:
        try:
            return original(self, *args)
        finally:
            gate.wait()  # the pages read are held (not yet released) until every request is done

    with (
        SimpleIndexClient(INDEX, memory_budget=3 * len(body), retries=0, concurrency=len(names)) as simple,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(SimpleIndexClient, "_project_versions", together)
        results = list(simple.fetch_many((name, None) for name in names))

    failed = [r for r in results if r.status is FetchStatus.FAILED]
    assert len(failed) == 3, results
    for result in failed:
        assert result.error is not None
        assert result.error.startswith("bodies in flight exceed the memory budget of "), result.error


def test_connection_error_is_retried_then_fails(
    mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic
) -> None:
    mocked.get(FOO_BAR_URL, body=requests.ConnectionError("Connection reset by peer"))

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error == f"ConnectionError: Connection reset by peer from {FOO_BAR_URL} after 3 attempts"
    assert len(mocked.calls) == 3
    assert traffic.by_status == {"error": 3}


def test_timeout_is_retried(mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic) -> None:
    mocked.get(FOO_BAR_URL, body=requests.ReadTimeout("read timed out"))
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert traffic.by_status == {"error": 1, "200": 1}


def test_tls_error_is_not_retried(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=requests.exceptions.SSLError("certificate verify failed"))

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("SSLError: certificate verify failed")
    assert len(mocked.calls) == 1


def test_truncated_body_is_retried(mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic) -> None:
    body = json_page(versions=["1.0"])
    mocked.get(FOO_BAR_URL, body=body[:20], content_type=JSON_TYPE, headers={"Content-Length": str(len(body))})
    mocked.get(FOO_BAR_URL, body=body, content_type=JSON_TYPE)

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert result.versions == ("1.0",)
    assert traffic.requests - 1 == 1  # one retry of the one page


def test_persistently_truncated_body_fails(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(FOO_BAR_URL, body=b'{"meta"', content_type=JSON_TYPE, headers={"Content-Length": "500"})

    result = client.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert result.error.startswith("truncated body: ")
    assert result.error.endswith("after 3 attempts")


class _Trickle(io.RawIOBase):
    """A body that arrives one byte at a time, slowly, and never ends."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.01)
        buffer[0:1] = b" "
        return 1


def test_trickling_body_is_cut_at_the_deadline(mocked: responses.RequestsMock) -> None:
    mocked.get(FOO_BAR_URL, body=io.BufferedReader(_Trickle()), content_type=JSON_TYPE)

    started = time.monotonic()
    with SimpleIndexClient(INDEX, timeout=0.2, retries=0) as simple:
        result = simple.project_versions("foo-bar")

    # The body never ends: that the call returned is the cut; it came at the deadline, not before.
    assert time.monotonic() - started >= 0.2
    assert result.status is FetchStatus.FAILED
    assert result.error == f"body not received within 0.2 s from {FOO_BAR_URL} after 1 attempt"


def test_credentials_are_sent_but_never_reported(mocked: responses.RequestsMock) -> None:
    mocked.get(FOO_BAR_URL, status=500)

    with SimpleIndexClient("http://alice:s3cr3t@127.0.0.1:8080/simple/", retries=0) as simple:
        result = simple.project_versions("foo-bar")

    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert "s3cr3t" not in result.error
    assert "http://alice:***@127.0.0.1:8080/simple/foo-bar/" in result.error
    assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_credentials_from_netrc(
    mocked: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    mocked.get(FOO_BAR_URL, body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX) as simple:
        result = simple.project_versions("foo-bar")

    assert result.status is FetchStatus.OK
    assert mocked.calls[0].request.headers["Authorization"] == requests.auth._basic_auth_str("bob", "hunter2")


def test_listing_json_with_serials_and_validators(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(f"{INDEX}/", body=fixture("index.json"), content_type=JSON_TYPE, headers={"ETag": '"idx"'})

    listing = client.project_listing()

    assert listing.status is FetchStatus.OK
    assert listing.projects == ("0", "foo-bar", "requests", "zope-interface", "django")
    assert listing.serials is not None
    assert listing.serials["foo-bar"] == 20711222
    assert listing.validators == PageValidators(etag='"idx"', serial=27003015)


def test_listing_html(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(f"{INDEX}/", body=fixture("index.html"), content_type="application/vnd.pypi.simple.v1+html")

    listing = client.project_listing()

    assert listing.status is FetchStatus.OK
    assert listing.projects == ("0", "foo-bar", "requests", "zope-interface", "django")
    assert listing.serials is None
    assert listing.validators.serial == 27003015


def test_listing_not_modified(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    old = PageValidators(etag='"idx"', serial=27003015)
    mocked.get(f"{INDEX}/", status=304, match=[matchers.header_matcher({"If-None-Match": '"idx"'})])

    listing = client.project_listing(old)

    assert listing.status is FetchStatus.NOT_MODIFIED
    assert listing.validators == old
    assert listing.projects == ()


def test_listing_not_found_fails(mocked: responses.RequestsMock, client: SimpleIndexClient) -> None:
    mocked.get(f"{INDEX}/", status=404)

    listing = client.project_listing()

    assert listing.status is FetchStatus.FAILED
    assert listing.error == f"HTTP 404 from {INDEX}/"


def test_fetch_many_yields_one_result_per_item(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{INDEX}/ok/", body=json_page(versions=["1.0", "2.0"]), content_type=JSON_TYPE)
    mocked.get(f"{INDEX}/same/", status=304)
    mocked.get(f"{INDEX}/gone/", status=404)
    mocked.get(f"{INDEX}/broken/", status=500)
    mocked.get(f"{INDEX}/garbled/", body=b"<<<", content_type=JSON_TYPE)
    mocked.get(f"{INDEX}/offline/", body=requests.ConnectionError("refused"))
    items = [
        ("ok", None),
        ("same", PageValidators(etag='"e"')),
        ("gone", None),
        ("broken", None),
        ("garbled", None),
        ("offline", None),
    ]

    with SimpleIndexClient(INDEX, retries=0, concurrency=3) as simple:
        results = {result.project: result for result in simple.fetch_many(iter(items))}

    assert {name: result.status for name, result in results.items()} == {
        "ok": FetchStatus.OK,
        "same": FetchStatus.NOT_MODIFIED,
        "gone": FetchStatus.NOT_FOUND,
        "broken": FetchStatus.FAILED,
        "garbled": FetchStatus.FAILED,
        "offline": FetchStatus.FAILED,
    }
    assert results["ok"].versions == ("1.0", "2.0")
    assert results["same"].validators == PageValidators(etag='"e"')


def test_fetch_many_handles_more_items_than_workers(mocked: responses.RequestsMock) -> None:
    for n in range(50):
        mocked.get(f"{INDEX}/p{n}/", body=json_page(versions=[f"{n}.0"]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, concurrency=4) as simple:
        results = list(simple.fetch_many((f"p{n}", None) for n in range(50)))

    assert sorted(result.project for result in results) == sorted(f"p{n}" for n in range(50))
    assert all(result.versions == (f"{result.project[1:]}.0",) for result in results)


def test_fetch_many_stops_submitting_when_closed_early(mocked: responses.RequestsMock) -> None:
    for n in range(40):
        mocked.get(f"{INDEX}/p{n}/", body=json_page(versions=["1.0"]), content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, concurrency=2) as simple:
        results = simple.fetch_many((f"p{n}", None) for n in range(40))
        first = next(results)
        results.close()

    assert first.status is FetchStatus.OK
    # At most twice the concurrency is ever submitted ahead of the consumer.
    assert len(mocked.calls) <= 4


def test_traffic_statuses_bytes_and_retries(
    mocked: responses.RequestsMock, client: SimpleIndexClient, traffic: Traffic
) -> None:
    ok_body = json_page(versions=["1.0"])
    mocked.get(f"{INDEX}/a/", body=ok_body, content_type=JSON_TYPE)
    mocked.get(f"{INDEX}/b/", status=304)
    mocked.get(f"{INDEX}/c/", status=404, body=b"missing")
    mocked.get(f"{INDEX}/d/", status=503, body=b"busy")
    mocked.get(f"{INDEX}/d/", body=ok_body, content_type=JSON_TYPE)

    for name in "abcd":
        client.project_versions(name)

    assert traffic.by_status == {"200": 2, "304": 1, "404": 1, "503": 1}
    assert traffic.requests == 5
    assert traffic.requests - len("abcd") == 1  # one retry
    # Error bodies are read too (the connection is reused).
    assert traffic.bytes_received == 2 * len(ok_body) + len(b"missing") + len(b"busy")


@pytest.mark.parametrize(
    "kwargs",
    [{"concurrency": 0}, {"timeout": 0}, {"retries": -1}, {"max_body_bytes": 0}],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        SimpleIndexClient(INDEX, **kwargs)


def test_non_http_index_url_is_rejected_with_masked_password() -> None:
    with pytest.raises(ValueError, match="not http") as raised:
        SimpleIndexClient("ftp://carol:pa55@127.0.0.1/simple")
    assert "pa55" not in str(raised.value)


def test_listing_may_be_larger_than_a_page(mocked: responses.RequestsMock) -> None:
    names = [f"project-{i:05d}" for i in range(200)]
    body = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]})
    page_limit = len(body) // 2  # the listing is twice a page's limit, within the listing's
    mocked.get(f"{INDEX}/", body=body, content_type=JSON_TYPE)
    mocked.get(FOO_BAR_URL, body=body, content_type=JSON_TYPE)

    with SimpleIndexClient(INDEX, max_body_bytes=page_limit, backoff=0) as simple:
        listing = simple.project_listing()
        page = simple.project_versions("foo-bar")

    assert listing.status is FetchStatus.OK
    assert listing.projects == tuple(names)
    assert page.status is FetchStatus.FAILED
    assert page.error is not None
    assert f"exceeds {page_limit} bytes" in page.error


def test_fetch_many_stops_promptly_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A gate: every fetch is held until the test releases it; the results must end while they are all held.
    release = threading.Event()
    finished: list[str] = []

    def slow(self: SimpleIndexClient, project: str, validators: PageValidators | None = None) -> ProjectResult:
        release.wait(60)
        finished.append(project)
        return ProjectResult(project, FetchStatus.NOT_FOUND)

    monkeypatch.setattr(SimpleIndexClient, "project_versions", slow)
    stop = threading.Event()
    with SimpleIndexClient(INDEX, concurrency=2) as simple:
        results = simple.fetch_many(((f"p{i}", None) for i in range(10)), should_stop=stop.is_set)
        stop.set()
        collected = list(results)
        held_to_the_end = finished == []
        simple.cancel()
        release.set()
    assert collected == []
    assert held_to_the_end, f"the results waited for fetches in flight: {finished}"


def test_cancel_ends_backoff_and_skips_retries(mocked: responses.RequestsMock) -> None:
    mocked.get(FOO_BAR_URL, status=503)
    with SimpleIndexClient(INDEX, retries=5, backoff=30) as simple:
        simple.cancel()
        started = time.monotonic()
        result = simple.project_versions("foo-bar")
    assert time.monotonic() - started < 30, "no backoff (its first wait is 30 s)"
    assert result.status is FetchStatus.FAILED
    assert result.error is not None
    assert "the run is stopping" in result.error
    assert len(mocked.calls) == 0  # a cancelled client starts no request
