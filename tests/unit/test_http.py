"""Unit tests of the one HTTP policy: sessions from an environment, failure rules, delays, bodies, redirects."""

from __future__ import annotations

import io
import time
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

from thoth.package_releases.sources import http
from thoth.package_releases.sources.http import (
    MAX_DELAY,
    USER_AGENT,
    BodyError,
    BodyProblem,
    backoff_delay,
    describe_failure,
    environ_proxies,
    netrc_auth,
    new_session,
    read_body,
    retry_after,
    retryable_status,
    transport_failure,
)

URL = "http://127.0.0.1:8080/simple/foo/"


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
    ("error", "retryable"),
    [
        (requests.ConnectionError("refused"), True),
        (requests.ReadTimeout("slow"), True),
        (requests.exceptions.SSLError("certificate verify failed"), False),  # final for every caller
        (requests.exceptions.InvalidURL("bad"), False),
        (requests.TooManyRedirects("loop"), False),
    ],
)
def test_one_rule_per_kind_of_transport_failure(error: requests.RequestException, retryable: bool) -> None:
    failure = transport_failure(error)
    assert failure.retryable is retryable
    assert failure.reason == f"{type(error).__name__}: {error}"


def test_a_failure_is_described_without_the_url_requests_puts_in_it() -> None:
    connection = urllib3.connection.HTTPConnection("127.0.0.1", 9)
    refused = urllib3.exceptions.NewConnectionError(connection, "Failed to establish a new connection: refused")
    pool = urllib3.HTTPConnectionPool("127.0.0.1", 9)
    error = requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/hooks/s3cr3t", refused))

    described = describe_failure(error)

    assert described.startswith("ConnectionError: ")
    assert "refused" in described
    assert "s3cr3t" not in described


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

    assert session.get(URL).text == "moved"  # today's policy follows
    asked: list[tuple[str, str]] = []

    def refuse(source: str, target: str) -> bool:
        asked.append((source, target))
        return False

    monkeypatch.setattr(http, "may_follow", refuse)
    refused = session.get(URL)
    assert refused.status_code == 301
    assert asked == [(URL, "http://elsewhere.example/foo/")]


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
