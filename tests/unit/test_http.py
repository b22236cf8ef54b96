"""Unit tests of the one HTTP policy: sessions from an environment, failure rules, delays, bodies, redirects."""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import urllib3
import urllib3.connection
import urllib3.exceptions

from tests.support.hostile import HostileServer, Routes, trickling
from thoth.package_releases.sources import http
from thoth.package_releases.sources.http import (
    MAX_DELAY,
    USER_AGENT,
    BodyError,
    BodyProblem,
    RequestFailed,
    backoff_delay,
    describe_failure,
    environ_proxies,
    get,
    may_follow,
    netrc_auth,
    new_session,
    read_body,
    retry_after,
    retryable_status,
    send,
    transport_failure,
)
from thoth.package_releases.sources.limits import BudgetExceeded, MemoryBudget
from thoth.package_releases.sources.remote import FetchError, fetch

URL = "http://127.0.0.1:8080/simple/foo/"


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("soon", None), ("7", 7.0), ("3600", MAX_DELAY)],
)
def test_retry_after_seconds_and_invalid_values(value: str | None, expected: float | None) -> None:
    assert retry_after(value) == expected


def test_retry_after_dates_with_and_without_a_time_zone_are_gmt() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=20)
    with_zone = format_datetime(soon, usegmt=True)
    without_zone = soon.strftime("%a, %d %b %Y %H:%M:%S -0000")  # parsed as a naive datetime

    for value in (with_zone, without_zone):
        delay = retry_after(value)
        assert delay is not None
        assert 17 <= delay <= 20, value
    assert retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0


def test_backoff_doubles_with_jitter_and_yields_to_retry_after() -> None:
    for attempt in range(4):
        delay = backoff_delay(1.0, attempt)
        assert 2**attempt <= delay <= 1.5 * 2**attempt
    assert backoff_delay(100.0, 3) == MAX_DELAY
    assert backoff_delay(1.0, 0, 7.0) == 7.0


@pytest.mark.parametrize(("status", "retryable"), [(408, True), (429, True), (500, True), (503, True), (404, False)])
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("error", "retryable", "reason"),
    [
        (requests.ConnectionError("refused"), True, "ConnectionError: refused"),
        (requests.ReadTimeout("slow"), True, "timed out after 30 s"),
        (requests.exceptions.SSLError("certificate verify failed"), False, "SSLError: certificate verify failed"),
        (requests.exceptions.InvalidURL("bad"), False, "InvalidURL: bad"),
        (requests.TooManyRedirects("loop"), False, "too many redirects"),
    ],
)
def test_one_rule_per_kind_of_transport_failure(error: requests.RequestException, retryable: bool, reason: str) -> None:
    failure = transport_failure(error, timeout=30)
    assert failure.retryable is retryable
    assert failure.reason == reason


def _wrapped(cause: Exception, path: str = "/hooks/s3cr3t") -> requests.ConnectionError:
    """What requests raises for a failed connection: its message names the path."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, path, cause))


def test_a_failure_is_described_in_plain_words_without_the_url_requests_puts_in_it() -> None:
    connection = urllib3.connection.HTTPConnection("127.0.0.1", 18080)
    refused = urllib3.exceptions.NewConnectionError(
        connection, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    unresolved = urllib3.exceptions.NameResolutionError("no.such.host", connection, OSError("Name unknown"))  # type: ignore[arg-type]

    assert describe_failure(_wrapped(refused)) == "connection refused by 127.0.0.1:18080"
    assert describe_failure(_wrapped(unresolved)) == "name not resolved: no.such.host"
    assert "s3cr3t" not in describe_failure(_wrapped(refused))


@responses.activate
def test_an_invalid_header_value_is_never_echoed() -> None:
    with pytest.raises(RequestFailed) as raised:
        send(new_session({}), "POST", URL, timeout=5, headers={"Authorization": "Bearer s3cr3t-token\n"})
    assert "s3cr3t" not in raised.value.reason
    assert raised.value.reason.startswith("invalid header value")
    assert not raised.value.retryable


def test_a_refused_connection_is_one_short_line(unused_port: int) -> None:
    with pytest.raises(RequestFailed) as raised:
        get(new_session({}), f"http://127.0.0.1:{unused_port}/simple/", timeout=2, max_bytes=100)
    assert raised.value.reason == f"connection refused by 127.0.0.1:{unused_port}"
    assert raised.value.retryable


def test_session_sends_the_user_agent_and_takes_the_ca_bundle_from_the_environ_given(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    session = new_session({"REQUESTS_CA_BUNDLE": str(bundle)})
    assert session.headers["User-Agent"] == USER_AGENT
    assert session.verify == str(bundle)
    assert session.trust_env is False
    assert new_session({"CURL_CA_BUNDLE": str(bundle)}, verify=False).verify is False
    assert new_session({}).verify is True


def test_proxies_come_from_the_environ_given_and_no_proxy_bypasses_them() -> None:
    environ = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128", "no_proxy": "internal.example"}
    assert environ_proxies("https://pypi.org/simple", environ) == {"https": "http://lower:3128"}
    assert environ_proxies("https://mirror.internal.example/simple", environ) == {}
    assert environ_proxies("http://10.1.2.3/", {"http_proxy": "http://p:1", "NO_PROXY": "10.0.0.0/8"}) == {}
    assert environ_proxies("http://x/", {"http_proxy": "http://p:1", "no_proxy": "*"}) == {}
    # httpoxy: in a CGI request, HTTP_PROXY is a request header, not configuration.
    assert environ_proxies("http://x/", {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "GET"}) == {}


def test_netrc_credentials_come_from_the_environ_given(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    home = tmp_path / "home"
    home.mkdir()

    assert netrc_auth(URL, {"NETRC": str(netrc)}) == ("bob", "hunter2")
    assert netrc_auth("http://other.example/", {"NETRC": str(netrc)}) is None
    assert netrc_auth(URL, {"HOME": str(home)}) is None


@responses.activate
def test_session_sends_netrc_credentials_unless_the_url_has_some(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    netrc.chmod(0o600)
    responses.get(URL)
    responses.get(URL.replace("http://", "http://alice:pw@"))
    session = new_session({"NETRC": str(netrc)})

    session.get(URL)
    session.get(URL.replace("http://", "http://alice:pw@"))

    first, second = (call.request.headers["Authorization"] for call in responses.calls)
    assert first == requests.auth._basic_auth_str("bob", "hunter2")
    assert second == requests.auth._basic_auth_str("alice", "pw")


@responses.activate
def test_redirects_go_through_the_one_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.get(URL, status=301, headers={"Location": "http://elsewhere.example/foo/"})
    responses.get("http://elsewhere.example/foo/", body=b"moved")
    session = new_session({})

    assert session.get(URL).status_code == 301  # another origin: not followed
    asked: list[tuple[str, str]] = []

    def allow(source: str, target: str) -> bool:
        asked.append((source, target))
        return True

    monkeypatch.setattr(http, "may_follow", allow)
    assert session.get(URL).text == "moved"
    assert asked == [(URL, "http://elsewhere.example/foo/")]


@pytest.mark.parametrize(
    ("source", "target", "same"),
    [
        ("http://127.0.0.1:8080/simple/x", "http://127.0.0.1:8080/simple/x/", True),
        ("https://Pypi.example/simple/x", "https://pypi.example:443/simple/x/", True),
        ("http://pypi.example/simple/x", "http://pypi.example:80/y", True),
        ("http://pypi.example/simple/x", "https://pypi.example/simple/x", False),  # scheme
        ("http://127.0.0.1:8080/simple/x", "http://127.0.0.1:8081/simple/x", False),  # port
        ("https://pypi.example/simple/x", "https://pypi.org/simple/x", False),  # host
    ],
)
def test_only_redirects_within_the_origin_may_be_followed(source: str, target: str, same: bool) -> None:
    assert may_follow(source, target) is same


@responses.activate
def test_a_redirect_to_another_origin_is_a_final_failure_naming_it_and_credentials_stay_home() -> None:
    index = "https://user:pw@pypi.example/simple/private/"
    responses.get(index, status=303, headers={"Location": "https://pypi.org:8443/x/"})
    responses.get("https://pypi.org:8443/x/", body=b"theirs")

    with pytest.raises(RequestFailed) as raised:
        get(new_session({}), index, timeout=5, max_bytes=1000)

    assert raised.value.reason == "redirect to another origin https://pypi.org:8443 refused"
    assert not raised.value.retryable
    (call,) = responses.calls
    assert call.request.headers["Authorization"] == requests.auth._basic_auth_str("user", "pw")


@responses.activate
def test_a_redirect_within_the_origin_is_followed() -> None:
    responses.get("http://127.0.0.1:8080/simple/foo", status=301, headers={"Location": "/simple/foo/"})
    responses.get(URL, body=b"page")

    assert get(new_session({}), "http://127.0.0.1:8080/simple/foo", timeout=5, max_bytes=1000).body == b"page"


@responses.activate
def test_one_debug_line_per_request_with_the_url_masked(caplog: pytest.LogCaptureFixture) -> None:
    responses.get(
        URL.replace("http://", "http://bob:hunter2@"), body=b"12345", content_type="application/vnd.pypi.simple.v1+json"
    )
    responses.get(URL + "?token=s3cr3t", status=304)
    session = new_session({})

    with caplog.at_level(logging.DEBUG, logger="thoth.package_releases.sources.http"):
        get(session, URL.replace("http://", "http://bob:hunter2@"), timeout=5, max_bytes=1000)
        get(session, URL + "?token=s3cr3t", timeout=5, max_bytes=1000)

    first, second = (
        record.getMessage() for record in caplog.records if record.name == "thoth.package_releases.sources.http"
    )
    assert first.startswith("GET http://bob:***@127.0.0.1:8080/simple/foo/ -> 200, ")
    assert "application/vnd.pypi.simple.v1+json, 5 bytes, " in first
    assert second.startswith("GET http://127.0.0.1:8080/simple/foo/?token=*** -> 304, ")
    assert "hunter2" not in caplog.text
    assert "s3cr3t" not in caplog.text


def test_headers_trickled_by_a_server_cannot_outlast_the_time_limit() -> None:
    with HostileServer(Routes(fallback=lambda _: trickling(0.05))) as server:
        started = time.monotonic()
        with pytest.raises(RequestFailed) as raised:
            get(new_session({}), f"{server.url}/simple/", timeout=0.5, max_bytes=10**6)
        elapsed = time.monotonic() - started

    assert raised.value.reason == "timed out after 0.5 s"
    assert raised.value.retryable
    assert elapsed < 1.5


@contextmanager
def set_later(event: threading.Event, seconds: float) -> Iterator[None]:
    """Set ``event`` after ``seconds`` from a timer thread that is cancelled and joined on leaving."""
    timer = threading.Timer(seconds, event.set)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join(5)


def test_a_request_is_cut_short_when_asked_to_stop() -> None:
    stop = threading.Event()
    with HostileServer(Routes(fallback=lambda _: trickling(0.05))) as server, set_later(stop, 0.3):
        started = time.monotonic()
        with pytest.raises(RequestFailed) as raised:
            get(new_session({}), f"{server.url}/hook", timeout=30, max_bytes=10**6, should_stop=stop.is_set)
        elapsed = time.monotonic() - started

    assert raised.value.reason == "not completed: the run is stopping"
    assert not raised.value.retryable
    assert elapsed < 1.5


def test_the_memory_budget_is_shared_by_the_requests_in_flight() -> None:
    budget = MemoryBudget(1000)
    with budget.allowance() as first, budget.allowance() as second:
        first.take(600)
        with pytest.raises(BudgetExceeded) as crowded:
            second.take(500)
        assert not crowded.value.alone
        second.take(400)
        assert budget.used == 1000
    assert budget.used == 0
    with budget.allowance() as alone, pytest.raises(BudgetExceeded) as raised:
        alone.take(1001)
    assert raised.value.alone


@responses.activate
def test_a_body_past_the_budget_is_a_body_error_and_gives_its_bytes_back() -> None:
    responses.get(URL, body=b"x" * 2500)
    responses.get(URL + "large", body=b"x" * 5000)
    budget = MemoryBudget(4000)
    with budget.allowance() as other, budget.allowance() as allowance:
        other.take(2000)
        with pytest.raises(BodyError) as crowded:
            get(new_session({}), URL, timeout=5, max_bytes=10**6, allowance=allowance)
        assert crowded.value.problem is BodyProblem.OVER_BUDGET
        assert budget.used == 2000
    with budget.allowance() as allowance, pytest.raises(BodyError) as alone:
        get(new_session({}), URL + "large", timeout=5, max_bytes=10**6, allowance=allowance)
    assert alone.value.problem is BodyProblem.TOO_LARGE


class _Trickle(io.RawIOBase):
    """A body that arrives one byte at a time, slowly, and never ends."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.01)
        buffer[0:1] = b" "
        return 1


@responses.activate
@pytest.mark.parametrize(
    ("body", "max_bytes", "timeout", "problem"),
    [
        (b"x" * 2000, 1000, 60.0, BodyProblem.TOO_LARGE),
        (io.BufferedReader(_Trickle()), 10**6, 0.2, BodyProblem.TOO_SLOW),
    ],
)
def test_bodies_are_limited_in_size_and_time(body: Any, max_bytes: int, timeout: float, problem: BodyProblem) -> None:
    responses.get(URL, body=body)
    started = time.monotonic()
    with new_session({}).get(URL, stream=True) as response, pytest.raises(BodyError) as raised:
        read_body(response, max_bytes=max_bytes, timeout=timeout)
    elapsed = time.monotonic() - started
    assert raised.value.problem is problem
    # Ordering, not speed: a body too large is cut before its deadline; a trickle that never ends, at it.
    if problem is BodyProblem.TOO_LARGE:
        assert elapsed < timeout
    else:
        assert elapsed >= timeout


@responses.activate
def test_a_truncated_body_is_a_body_error_and_what_arrived_is_counted() -> None:
    responses.get(URL, body=b'{"meta"', headers={"Content-Length": "500"})
    received: list[int] = []
    with new_session({}).get(URL, stream=True) as response, pytest.raises(BodyError) as raised:
        read_body(response, max_bytes=1000, timeout=5, received=received.append)
    assert raised.value.problem is BodyProblem.TRUNCATED
    assert received == [7]


# -- the remote configuration ------------------------------------------------------------------------------------

CONFIG = "https://config.example/thoth.yaml"


@responses.activate
def test_a_configuration_over_plain_http_is_refused_unless_allowed() -> None:
    plain = CONFIG.replace("https://", "http://")
    responses.get(plain, body=b"indexes: []\n")

    with pytest.raises(FetchError, match=r"^refusing to read the configuration over plain http .*--allow-insecure"):
        fetch(plain, {}, timeout=5, max_bytes=1000)
    assert len(responses.calls) == 0

    assert fetch(plain, {}, timeout=5, max_bytes=1000, allow_insecure=True) == b"indexes: []\n"


@responses.activate
def test_a_configuration_redirected_to_another_origin_is_refused_unless_allowed() -> None:
    responses.get(CONFIG, status=302, headers={"Location": "https://elsewhere.example/thoth.yaml"})
    responses.get("https://elsewhere.example/thoth.yaml", body=b"indexes: []\n")

    with pytest.raises(FetchError) as raised:
        fetch(CONFIG, {}, timeout=5, max_bytes=1000)
    assert str(raised.value) == (
        "cannot fetch the configuration: redirect to another origin https://elsewhere.example:443 refused"
        " (--allow-insecure-config allows it)"
    )
    assert len(responses.calls) == 1

    assert fetch(CONFIG, {}, timeout=5, max_bytes=1000, allow_insecure=True) == b"indexes: []\n"


def test_a_configuration_download_is_cut_short_by_a_stop() -> None:
    stop = threading.Event()
    with HostileServer(Routes(fallback=lambda _: trickling(0.05))) as server, set_later(stop, 0.3):
        started = time.monotonic()
        with pytest.raises(FetchError, match="the run is stopping"):
            fetch(f"{server.url}/thoth.yaml", {}, 30, 1000, should_stop=stop.is_set, allow_insecure=True)
    assert time.monotonic() - started < 1.5


def _serve_a_never_ending_body(listener: socket.socket, done: threading.Event) -> None:
    """Answer one request with a body of unknown length (ended by closing) that trickles a byte every 50 ms."""
    connection, _ = listener.accept()
    with connection:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        while not done.wait(0.05):
            try:
                connection.sendall(b"x")
            except OSError:
                return


def test_a_body_cut_short_by_a_stop_is_never_taken_for_a_whole_one() -> None:
    stop, done = threading.Event(), threading.Event()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server = threading.Thread(target=_serve_a_never_ending_body, args=(listener, done), daemon=True)
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/simple/"
        try:
            with set_later(stop, 0.4), pytest.raises(RequestFailed, match="the run is stopping"):
                get(new_session({}), url, timeout=30, max_bytes=10**6, should_stop=stop.is_set)
        finally:
            done.set()
            server.join(5)
