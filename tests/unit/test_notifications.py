"""Tests of triggers: matching releases, rendering requests, and delivering the outbox (with a fake outbox)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
import requests
import responses
import urllib3.exceptions

from tests.support.configs import package_named
from thoth.package_releases.config import Config, PackageConfig, TriggerConfig, parse_config
from thoth.package_releases.notifications import (
    TRIGGER_REMOVED,
    DeliveryPolicy,
    Notification,
    deliver_pending,
    notifier,
    render_notification,
)
from thoth.package_releases.releases import shard_of
from thoth.package_releases.report import NotificationCounts
from thoth.package_releases.sources.http import USER_AGENT
from thoth.package_releases.template import TemplateError
from thoth.package_releases.values import NEW_RELEASE, OutboxEntry, ReleaseEvent

PYPI = "https://pypi.org/simple"
MIRROR = "http://mirror.example.com:8080/simple"
API = "http://127.0.0.1:9"
TOKEN = "s3cr3t-t0ken-value"
ENVIRON = {"RELEASE_API": API, "RELEASE_TOKEN": TOKEN}
HOOK = f"{API}/hooks/tensorflow"


def new_release(name: str, version: str, index_url: str) -> ReleaseEvent:
    """The event of a new release."""
    return ReleaseEvent(NEW_RELEASE, name, version, index_url)


def make_config(packages: dict[str, Any], environ: dict[str, str] | None = None) -> Config:
    """A validated configuration with these monitored packages, whose templates may read ENVIRON's variables."""
    document = {"packages": packages, "template_variables": sorted(ENVIRON)}
    return parse_config(document, "thoth.yaml", ENVIRON if environ is None else environ)


def trigger_of(config: Config, name: str, position: int = 0) -> TriggerConfig:
    package = package_named(config, name)
    assert package is not None
    return package.triggers[position]


class FakeOutbox:
    """An in-memory stand-in for the three outbox methods of Graph (the real one is covered by integration tests)."""

    def __init__(self, *entries: OutboxEntry) -> None:
        self.entries = {entry.id: entry for entry in entries}
        self.status = {entry.id: "pending" for entry in entries}
        self.marks: list[tuple[int, str, int, str | None]] = []

    def pending_notifications(self) -> list[OutboxEntry]:
        return [entry for entry_id, entry in sorted(self.entries.items()) if self.status[entry_id] == "pending"]

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        assert status in ("pending", "sent", "dead")
        self.marks.append((entry_id, status, attempts, error))
        self.status[entry_id] = status
        self.entries[entry_id] = replace(self.entries[entry_id], attempts=attempts, last_error=error)

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        counts = {"pending": 0, "sent": 0, "dead": 0}
        counts.update(
            Counter(
                status
                for entry_id, status in self.status.items()
                if shard_of(self.entries[entry_id].event.package_name, shard_count) == shard_index
            )
        )
        return counts


def entry(entry_id: int, key: str, name: str = "tensorflow", version: str = "2.1.0", attempts: int = 0) -> OutboxEntry:
    return OutboxEntry(entry_id, key, new_release(name, version, PYPI), attempts, None)


HOOK_CONFIG = make_config(
    {
        "tensorflow": {
            "triggers": [
                {
                    "url": "{RELEASE_API}/hooks/{package_name}",
                    "headers": {"Authorization": "Bearer {RELEASE_TOKEN}"},
                }
            ]
        }
    }
)
HOOK_KEY = trigger_of(HOOK_CONFIG, "tensorflow").key


class Sleeps(list[float]):
    """Records the delays deliver_pending asks for, without sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def deliver(
    outbox: FakeOutbox, config: Config = HOOK_CONFIG, policy: DeliveryPolicy | None = None, **kwargs: Any
) -> NotificationCounts:
    kwargs.setdefault("sleep", Sleeps())
    return deliver_pending(outbox, config, ENVIRON, policy or DeliveryPolicy(), **kwargs)


# -- notifier --------------------------------------------------------------------------------------------------


MATCHING_CONFIG = make_config(
    {
        "tensorflow": {
            "triggers": [
                {"url": "https://a.example.com/any"},
                {"url": "https://b.example.com/2x", "version_specifier": ">=2.0,<3"},
                {"url": "https://c.example.com/pre", "prereleases": True},
                {"url": "https://d.example.com/pypi", "index_url": "https://pypi.python.org/simple/"},
                {"url": "https://a.example.com/any"},  # identical to the first: the same key
            ]
        },
        "Flask": {"triggers": []},
        "click": None,
    }
)


def keys_of(*urls: str) -> list[str]:
    triggers = {t.url: t.key for package in MATCHING_CONFIG.packages for t in package.triggers}
    return [triggers[url] for url in urls]


@pytest.mark.parametrize(
    ("release", "fired"),
    [
        (new_release("tensorflow", "2.1.0", PYPI), ["a", "b", "c", "d"]),
        (new_release("tensorflow", "3.0.0", PYPI), ["a", "c", "d"]),
        (new_release("tensorflow", "1.15.5", MIRROR), ["a", "c"]),
        (new_release("tensorflow", "2.2.0rc1", PYPI), ["c"]),
        (new_release("tensorflow", "2.2.0.dev3", MIRROR), ["c"]),
        (new_release("tensorflow", "not-a-version", PYPI), []),
        (new_release("flask", "3.0.0", PYPI), []),
        (new_release("click", "8.1.7", PYPI), []),
        (new_release("requests", "2.32.3", PYPI), []),
    ],
)
def test_notifier_fires_the_matching_triggers_once_each(release: ReleaseEvent, fired: list[str]) -> None:
    urls = {
        "a": "https://a.example.com/any",
        "b": "https://b.example.com/2x",
        "c": "https://c.example.com/pre",
        "d": "https://d.example.com/pypi",
    }
    assert notifier(MATCHING_CONFIG)(release) == keys_of(*(urls[name] for name in fired))


def test_notifier_of_an_empty_configuration_fires_nothing() -> None:
    assert notifier(Config(source="thoth.yaml"))(new_release("tensorflow", "2.1.0", PYPI)) == []


# -- rendering -------------------------------------------------------------------------------------------------


RELEASE = new_release("tensorflow", "2.1.0", PYPI)


def test_render_url_headers_and_default_payload() -> None:
    notification = render_notification(trigger_of(HOOK_CONFIG, "tensorflow"), RELEASE, ENVIRON)

    assert notification == Notification(
        method="POST",
        url=f"{API}/hooks/tensorflow",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        body=notification.body,
        verify=True,
    )
    assert notification.body is not None
    assert json.loads(notification.body) == {
        "event": NEW_RELEASE,
        "package_name": "tensorflow",
        "package_version": "2.1.0",
        "index_url": PYPI,
        "details": {},
    }


def test_render_payload_templates_keys_and_values() -> None:
    config = make_config(
        {
            "tensorflow": {
                "triggers": [
                    {
                        "url": "{RELEASE_API}/v1/{package_name}/{package_version}?from={index_url}",
                        "method": "put",
                        "headers": {"content-type": "application/vnd.release+json", "X-Version": "{package_version}"},
                        "payload": {
                            "name": "{package_name}",
                            "{package_name}-index": "{index_url}",
                            "literal": "{{not a placeholder}}",
                            "numbers": [1, 2.5, True, None, "{package_version}"],
                            "nested": {"api": "{RELEASE_API}"},
                        },
                        "tls_verify": False,
                    }
                ]
            }
        }
    )
    notification = render_notification(trigger_of(config, "tensorflow"), RELEASE, ENVIRON)

    assert notification.method == "PUT"
    assert notification.url == f"{API}/v1/tensorflow/2.1.0?from={PYPI}"
    assert notification.headers == {"content-type": "application/vnd.release+json", "X-Version": "2.1.0"}
    assert notification.verify is False
    assert notification.body is not None
    assert json.loads(notification.body) == {
        "name": "tensorflow",
        "tensorflow-index": PYPI,
        "literal": "{not a placeholder}",
        "numbers": [1, 2.5, True, None, "2.1.0"],
        "nested": {"api": API},
    }


def test_render_get_has_no_body() -> None:
    config = make_config(
        {"tensorflow": {"triggers": [{"url": "{RELEASE_API}/build?v={package_version}", "method": "GET"}]}}
    )
    notification = render_notification(trigger_of(config, "tensorflow"), RELEASE, ENVIRON)

    assert notification == Notification("GET", f"{API}/build?v=2.1.0", {}, None, True)


def test_render_with_a_variable_gone_from_the_environment_fails() -> None:
    with pytest.raises(TemplateError, match="RELEASE_TOKEN"):
        render_notification(trigger_of(HOOK_CONFIG, "tensorflow"), RELEASE, {"RELEASE_API": API})


def test_delivery_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DeliveryPolicy(tries_per_run=0)
    with pytest.raises(ValueError, match="positive"):
        DeliveryPolicy(timeout=0)


# -- delivery --------------------------------------------------------------------------------------------------


@responses.activate
def test_a_delivered_entry_is_sent() -> None:
    responses.post(HOOK, status=200)
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    counts = deliver(outbox)

    assert counts == NotificationCounts(sent=1, failed=0, pending=0, dead=0)
    assert outbox.marks == [(1, "sent", 1, None)]
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"] == USER_AGENT
    assert request.headers["Content-Type"] == "application/json"
    assert isinstance(request.body, bytes)
    assert json.loads(request.body) == {
        "event": NEW_RELEASE,
        "package_name": "tensorflow",
        "package_version": "2.1.0",
        "index_url": PYPI,
        "details": {},
    }


@responses.activate
def test_a_transient_failure_is_retried_within_the_run() -> None:
    responses.post(HOOK, status=503)
    responses.post(HOOK, status=200)
    outbox = FakeOutbox(entry(1, HOOK_KEY))
    sleeps = Sleeps()

    counts = deliver(outbox, policy=DeliveryPolicy(backoff=2.0), sleep=sleeps)

    assert counts == NotificationCounts(sent=1)
    assert outbox.marks == [(1, "sent", 2, None)]
    assert len(sleeps) == 1
    assert 2.0 <= sleeps[0] <= 3.0


@responses.activate
def test_a_persistent_failure_stays_pending_with_its_attempts_and_error() -> None:
    responses.post(HOOK, status=500)
    outbox = FakeOutbox(entry(1, HOOK_KEY, attempts=2))
    sleeps = Sleeps()

    counts = deliver(outbox, policy=DeliveryPolicy(backoff=1.0), sleep=sleeps)

    assert counts == NotificationCounts(sent=0, failed=1, pending=1, dead=0)
    assert outbox.marks == [(1, "pending", 5, "HTTP 500 Internal Server Error")]
    assert len(responses.calls) == 3
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 1.5
    assert 2.0 <= sleeps[1] <= 3.0


@responses.activate
@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [("7", 7.0), ("3600", 60.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0)],
)
def test_retry_after_is_honoured_and_capped(retry_after: str, delay: float) -> None:
    responses.post(HOOK, status=429, headers={"Retry-After": retry_after})
    responses.post(HOOK, status=202)
    outbox = FakeOutbox(entry(1, HOOK_KEY))
    sleeps = Sleeps()

    deliver(outbox, sleep=sleeps)

    assert sleeps == [delay]
    assert outbox.marks == [(1, "sent", 2, None)]


@responses.activate
@pytest.mark.parametrize("status", [408, 429, 502])
def test_retryable_statuses(status: int) -> None:
    responses.post(HOOK, status=status)

    outbox = FakeOutbox(entry(1, HOOK_KEY))
    deliver(outbox)

    assert len(responses.calls) == 3
    assert outbox.marks[0][1:3] == ("pending", 3)


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_client_error_is_not_retried_in_the_same_run(status: int) -> None:
    responses.post(HOOK, status=status)
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    counts = deliver(outbox)

    assert len(responses.calls) == 1
    assert counts == NotificationCounts(failed=1, pending=1)
    (_, state, attempts, error) = outbox.marks[0]
    assert (state, attempts) == ("pending", 1)
    assert error is not None
    assert error.startswith(f"HTTP {status} ")


@responses.activate
def test_a_redirect_is_not_followed() -> None:
    responses.post(HOOK, status=302, headers={"Location": "https://elsewhere.example.com/in?token=abc123"})
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    deliver(outbox)

    assert len(responses.calls) == 1
    assert outbox.marks == [
        (
            1,
            "pending",
            1,
            "HTTP 302 Found: redirect to https://elsewhere.example.com/in?token=*** not followed",
        )
    ]


@responses.activate
def test_connection_errors_are_retried() -> None:
    responses.post(HOOK, body=requests.ConnectionError("Connection refused"))
    responses.post(HOOK, body=requests.Timeout("Read timed out"))
    responses.post(HOOK, body=requests.ConnectionError("Connection reset by peer"))
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    deliver(outbox)

    assert outbox.marks == [(1, "pending", 3, "ConnectionError: Connection reset by peer")]


@responses.activate
def test_an_entry_reaching_max_attempts_is_dead() -> None:
    responses.post(HOOK, status=503)
    outbox = FakeOutbox(entry(1, HOOK_KEY, attempts=8), entry(2, HOOK_KEY, version="2.2.0", attempts=9))

    counts = deliver(outbox, policy=DeliveryPolicy(max_attempts=10, tries_per_run=3))

    assert counts == NotificationCounts(sent=0, failed=2, pending=0, dead=2)
    assert outbox.marks == [
        (1, "dead", 10, "HTTP 503 Service Unavailable"),
        (2, "dead", 10, "HTTP 503 Service Unavailable"),
    ]
    assert len(responses.calls) == 3  # 2 tries for the first entry, 1 for the second


@responses.activate
def test_an_entry_already_past_a_lowered_limit_is_dead_without_a_request() -> None:
    outbox = FakeOutbox(replace(entry(1, HOOK_KEY, attempts=7), last_error="HTTP 500 Internal Server Error"))

    counts = deliver(outbox, policy=DeliveryPolicy(max_attempts=5))

    assert outbox.marks == [(1, "dead", 7, "HTTP 500 Internal Server Error")]
    assert counts == NotificationCounts(sent=0, failed=0, pending=0, dead=1)
    assert len(responses.calls) == 0


@responses.activate
def test_an_entry_whose_trigger_was_removed_is_dead() -> None:
    outbox = FakeOutbox(entry(1, "0" * 64, attempts=1), entry(2, HOOK_KEY, name="flask"))

    counts = deliver(outbox)

    assert outbox.marks == [(1, "dead", 1, TRIGGER_REMOVED), (2, "dead", 0, TRIGGER_REMOVED)]
    assert counts == NotificationCounts(sent=0, failed=0, pending=0, dead=2)
    assert len(responses.calls) == 0


@responses.activate
def test_a_trigger_that_cannot_be_rendered_counts_an_attempt() -> None:
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    counts = deliver_pending(outbox, HOOK_CONFIG, {"RELEASE_API": API}, DeliveryPolicy(), sleep=Sleeps())

    assert counts == NotificationCounts(failed=1, pending=1)
    (_, state, attempts, error) = outbox.marks[0]
    assert (state, attempts) == ("pending", 1)
    assert error is not None
    assert error.startswith("cannot render the request: no value for placeholder {RELEASE_TOKEN}")
    assert len(responses.calls) == 0


@responses.activate
def test_secrets_never_reach_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(
        {
            "tensorflow": {
                "triggers": [
                    {
                        "url": "{RELEASE_API}/hooks/{package_name}?api_token={RELEASE_TOKEN}&v={package_version}",
                        "headers": {"Authorization": "Bearer {RELEASE_TOKEN}", "X-Api-Key": "{RELEASE_TOKEN}"},
                    }
                ]
            }
        }
    )
    key = trigger_of(config, "tensorflow").key
    url = f"{API}/hooks/tensorflow"
    # A misbehaving stack that echoes the request into its error messages.
    responses.post(url, body=requests.ConnectionError(f"refused: Authorization: Bearer {TOKEN} for {url}?api_token="))
    responses.post(url, status=401)
    responses.post(url, status=500)
    outbox = FakeOutbox(entry(1, key), entry(2, key, version="2.2.0"), entry(3, key, version="2.3.0"))
    caplog.set_level(logging.DEBUG)

    deliver(outbox, config, policy=DeliveryPolicy(tries_per_run=1))

    assert len(responses.calls) == 3
    assert TOKEN in str(responses.calls[0].request.url)
    errors = [error for *_, error in outbox.marks]
    assert errors[1:] == ["HTTP 401 Unauthorized", "HTTP 500 Internal Server Error"]
    assert errors[0] is not None
    assert "***" in errors[0]
    for text in [caplog.text, *map(str, errors)]:
        assert TOKEN not in text
    assert "api_token=***&v=2.1.0" in caplog.text
    # The URL from the environment is shown by name: a webhook URL is often a secret itself.
    assert "POST {RELEASE_API}/hooks/tensorflow?" in caplog.text


@responses.activate
def test_should_stop_leaves_the_remaining_entries_untouched() -> None:
    responses.post(HOOK, status=200)
    outbox = FakeOutbox(entry(1, HOOK_KEY), entry(2, HOOK_KEY, version="2.2.0"), entry(3, HOOK_KEY, version="2.3.0"))
    calls = iter([False, True])

    counts = deliver(outbox, should_stop=lambda: next(calls, True))

    assert outbox.marks == [(1, "sent", 1, None)]
    assert outbox.status == {1: "sent", 2: "pending", 3: "pending"}
    assert counts == NotificationCounts(sent=1, failed=0, pending=2, dead=0)


@responses.activate
def test_should_stop_from_the_start_sends_nothing() -> None:
    outbox = FakeOutbox(entry(1, HOOK_KEY))

    counts = deliver(outbox, should_stop=lambda: True)

    assert outbox.marks == []
    assert counts == NotificationCounts(pending=1)
    assert len(responses.calls) == 0


@responses.activate
def test_should_stop_between_tries_records_the_tries_made() -> None:
    responses.post(HOOK, status=503)
    outbox = FakeOutbox(entry(1, HOOK_KEY), entry(2, HOOK_KEY, version="2.2.0"))
    answers = iter([False, True])

    deliver(outbox, should_stop=lambda: next(answers, True))

    assert outbox.marks == [(1, "pending", 1, "HTTP 503 Service Unavailable")]
    assert len(responses.calls) == 1


@responses.activate
def test_tls_verification_off_is_warned_once_per_host(caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(
        {
            "tensorflow": {"triggers": [{"url": "{RELEASE_API}/hooks/{package_name}", "tls_verify": False}]},
            "keras": {"triggers": [{"url": "{RELEASE_API}/hooks/{package_name}", "tls_verify": False}]},
        }
    )
    responses.post(HOOK, status=200)
    responses.post(f"{API}/hooks/keras", status=200)
    outbox = FakeOutbox(
        entry(1, trigger_of(config, "tensorflow").key),
        entry(2, trigger_of(config, "keras").key, name="keras"),
        entry(3, trigger_of(config, "tensorflow").key, version="2.2.0"),
    )
    caplog.set_level(logging.INFO)

    counts = deliver(outbox, config)

    assert counts.sent == 3
    assert all(call.request.req_kwargs["verify"] is False for call in responses.calls)  # type: ignore[attr-defined]
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "thoth.package_releases.notifications"
    ]
    assert warnings == ["TLS verification is off for 127.0.0.1 (tls_verify: false in a trigger)"]


@responses.activate
def test_get_triggers_send_no_body() -> None:
    config = make_config(
        {"tensorflow": {"triggers": [{"url": "{RELEASE_API}/build/{package_version}", "method": "GET"}]}}
    )
    responses.get(f"{API}/build/2.1.0", status=204)
    outbox = FakeOutbox(entry(1, trigger_of(config, "tensorflow").key))

    assert deliver(outbox, config).sent == 1
    assert responses.calls[0].request.body is None


@responses.activate
def test_each_shard_delivers_the_entries_of_its_packages() -> None:
    config = make_config({name: {"triggers": [{"url": "{RELEASE_API}/hooks/{package_name}"}]} for name in "abcdefgh"})
    entries = [entry(i, trigger_of(config, name).key, name=name) for i, name in enumerate("abcdefgh", start=1)]
    for name in "abcdefgh":
        responses.post(f"{API}/hooks/{name}", status=200)
    outbox = FakeOutbox(*entries)

    deliver(outbox, config, shard_index=1, shard_count=3)

    delivered = {outbox.entries[entry_id].event.package_name for entry_id, *_ in outbox.marks}
    assert delivered == {name for name in "abcdefgh" if shard_of(name, 3) == 1}
    assert delivered


@responses.activate
def test_a_connection_failure_is_described_without_the_webhook_path() -> None:
    config = make_config({"tensorflow": {"triggers": [{"url": "{RELEASE_API}/hooks/T0001/B0002/s3cr3t-path"}]}})
    key = trigger_of(config, "tensorflow").key
    path = "/hooks/T0001/B0002/s3cr3t-path"
    connection = urllib3.connection.HTTPConnection("127.0.0.1")
    refused = urllib3.exceptions.NewConnectionError(
        connection, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    # What requests raises: its message names the path ("Max retries exceeded with url: ...").
    pool = urllib3.HTTPConnectionPool("127.0.0.1")
    responses.post(f"{API}{path}", body=requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, path, refused)))
    outbox = FakeOutbox(entry(1, key))

    deliver(outbox, config, policy=DeliveryPolicy(tries_per_run=1))

    ((_, status, attempts, error),) = outbox.marks
    assert (status, attempts) == ("pending", 1)
    assert error is not None
    assert "connection refused" in error
    assert "s3cr3t-path" not in error


# -- header values and the template environment ------------------------------------------------------------------


def test_a_header_value_is_sent_without_the_trailing_newline_of_a_file_based_secret() -> None:
    environ = {**ENVIRON, "RELEASE_TOKEN": TOKEN + "\n"}

    notification = render_notification(trigger_of(HOOK_CONFIG, "tensorflow"), RELEASE, environ)

    assert notification.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("bad", ["\r\nX-Evil: 1", "\x00", "\x1b[31m"], ids=["line-break", "nul", "escape"])
def test_a_header_value_with_a_control_character_is_refused_without_showing_it(bad: str) -> None:
    environ = {**ENVIRON, "RELEASE_TOKEN": TOKEN + bad + "tail"}

    with pytest.raises(TemplateError) as caught:
        render_notification(trigger_of(HOOK_CONFIG, "tensorflow"), RELEASE, environ)

    assert (
        str(caught.value) == "header Authorization: the value holds a line break or a control character once rendered"
    )


@responses.activate
def test_a_header_value_that_cannot_be_sent_is_an_error_without_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    outbox = FakeOutbox(entry(1, HOOK_KEY))
    caplog.set_level(logging.DEBUG)

    counts = deliver_pending(
        outbox, HOOK_CONFIG, {**ENVIRON, "RELEASE_TOKEN": f"{TOKEN}\nX: y"}, DeliveryPolicy(), sleep=Sleeps()
    )

    assert counts == NotificationCounts(failed=1, pending=1)
    (_, _, _, error) = outbox.marks[0]
    assert error is not None
    assert error.startswith("cannot render the request: header Authorization: ")
    assert TOKEN not in error
    assert TOKEN not in caplog.text
    assert len(responses.calls) == 0


def test_nan_in_a_payload_is_never_sent_as_invalid_json() -> None:
    trigger = TriggerConfig(url=f"{API}/hook", payload={"score": float("nan")})

    with pytest.raises(TemplateError, match="NaN or Infinity"):
        render_notification(trigger, RELEASE, ENVIRON)


@responses.activate
def test_delivery_renders_with_only_the_variables_templates_may_read() -> None:
    # Built by hand, as a configuration that was validated with the variable listed and then lost it would be.
    trigger = TriggerConfig(url="{RELEASE_API}/hooks/{package_name}")
    config = Config(source="thoth.yaml", packages=(PackageConfig("tensorflow", (trigger,)),))
    outbox = FakeOutbox(entry(1, trigger.key))

    deliver_pending(outbox, config, ENVIRON, DeliveryPolicy(), sleep=Sleeps())

    (_, _, _, error) = outbox.marks[0]
    assert (
        error
        == "cannot render the request: no value for placeholder {RELEASE_API} in '{RELEASE_API}/hooks/{package_name}'"
    )
    assert len(responses.calls) == 0
