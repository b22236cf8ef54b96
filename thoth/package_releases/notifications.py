"""Triggers for monitored packages: which ones a release event fires, and their delivery from the durable outbox.

When a chunk is recorded, :func:`notifier` names the triggers each of its events fires and the store queues one
outbox entry per event and trigger in the same transaction. :func:`deliver_pending` later sends the queued
entries. Only the trigger's key is stored: the request is rendered at delivery time from the current configuration
and environment, so secrets never reach the database, and an entry whose trigger was removed from the
configuration is given up.

Delivery is at least once: an entry is marked sent only after a 2xx answer, so a run that dies in between
sends it again next time. Receivers should treat (event, package, version, index) of a ``new_release`` as an
idempotency key; the other kinds may legitimately repeat (a release yanked, unyanked and yanked again).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import requests

from thoth.package_releases.clean import MAX_SHOWN, clean_text
from thoth.package_releases.config import Config, TriggerConfig
from thoth.package_releases.redact import display_url, mask_url, one_line, secret_header_values
from thoth.package_releases.releases import shard_of
from thoth.package_releases.report import NotificationCounts
from thoth.package_releases.sources.http import (
    USER_AGENT,
    RequestFailed,
    backoff_delay,
    new_session,
    retry_after,
    retryable_status,
    send,
)
from thoth.package_releases.template import (
    RELEASE_FIELDS,
    JsonValue,
    TemplateError,
    placeholders,
    release_values,
    render,
    render_json,
)
from thoth.package_releases.values import OutboxEntry, ReleaseEvent

_LOGGER = logging.getLogger(__name__)

Status = Literal["sent", "pending", "dead"]

TRIGGER_REMOVED: Final = "trigger no longer configured"

# What a URL may not hold: white space and control characters; a header value: control characters but tab.
_CONTROL: Final = re.compile(r"[\x00-\x20\x7f]")
_HEADER_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Notification:
    """A rendered trigger request, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    verify: bool


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: attempts per entry over all runs, tries per entry in one run, backoff and timeout."""

    max_attempts: int = 10
    tries_per_run: int = 3
    backoff: float = 1.0
    timeout: float = 10.0

    def __post_init__(self) -> None:
        """Reject limits that would make delivery never try or never stop."""
        if self.max_attempts < 1 or self.tries_per_run < 1:
            raise ValueError("max_attempts and tries_per_run must be at least 1")
        if self.backoff < 0 or self.timeout <= 0:
            raise ValueError("backoff must not be negative and timeout must be positive")


class Outbox(Protocol):
    """The part of :class:`~thoth.package_releases.store.state.JobState` that delivery uses."""

    def pending_notifications(self) -> Sequence[OutboxEntry]:
        """Return the queued notifications, oldest first."""

    def mark_notification(self, entry_id: int, *, status: str, attempts: int, error: str | None) -> None:
        """Record the outcome of delivering an entry."""

    def outbox_counts(self, shard_index: int = 0, shard_count: int = 1) -> dict[str, int]:
        """Return how many entries (of a shard's packages) are pending, sent and dead."""


def notifier(config: Config) -> Callable[[ReleaseEvent], list[str]]:
    """Return a function giving the keys of the configured triggers a release event fires (no I/O).

    A trigger fires only for the kinds of events it subscribes to (``events:``, new releases by default).
    """
    triggers = {package.name: [(trigger, trigger.key) for trigger in package.triggers] for package in config.packages}

    def keys(event: ReleaseEvent) -> list[str]:
        fired = (key for trigger, key in triggers.get(event.package_name, ()) if trigger.fires(event))
        return list(dict.fromkeys(fired))  # identical triggers share a key: fire them once

    return keys


def render_notification(trigger: TriggerConfig, event: ReleaseEvent, environ: Mapping[str, str]) -> Notification:
    """Return the request a trigger makes for a release event; raise TemplateError when a template cannot be rendered.

    URL, header values and payload are rendered with the event's fields and the environment. The payload
    defaults to ``{"event", "package_name", "package_version", "index_url", "details"}`` (``package_version``
    null for ``missing_package``) and is sent as JSON by every method but GET, which has no body.
    """
    # Index credentials (from the graph) never travel to a webhook: the index URL is always sent masked.
    index_url = mask_url(event.index_url)
    values = release_values(
        environ,
        event=event.kind,
        package_name=event.package_name,
        package_version=event.package_version,
        index_url=index_url,
    )
    # Surrounding white space is no part of a header value (RFC 9110): a token read from a file-based Secret
    # often ends with a newline. Anything else a header or the URL cannot carry is refused before sending,
    # without showing the value (it usually is a secret).
    headers = {name: _header_value(name, render(template, values)) for name, template in trigger.headers}
    body: bytes | None = None
    if trigger.method != "GET":
        payload: JsonValue
        if trigger.payload is None:
            payload = {
                "event": event.kind,
                "package_name": event.package_name,
                "package_version": event.package_version,
                "index_url": index_url,
                "details": _json_details(event.details),
            }
        else:
            payload = render_json(trigger.payload, values)
        try:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except ValueError:
            raise TemplateError("the payload holds NaN or Infinity, which JSON cannot carry") from None
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
    url = render(trigger.url, values)
    if _CONTROL.search(url):
        raise TemplateError("the URL holds white space or a control character once rendered")
    return Notification(
        method=trigger.method,
        url=url,
        headers=headers,
        body=body,
        verify=trigger.tls_verify,
    )


def deliver_pending(
    graph: Outbox,
    config: Config,
    environ: Mapping[str, str],
    policy: DeliveryPolicy,
    *,
    session: requests.Session | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    shard_index: int = 0,
    shard_count: int = 1,
) -> NotificationCounts:
    """Send the queued notifications (those of this shard's packages) and record each outcome in the outbox.

    Each entry gets up to ``policy.tries_per_run`` tries; it is marked sent on a 2xx answer, dead once its
    attempts over all runs reach ``policy.max_attempts`` or when its trigger is no longer configured, and is
    otherwise left pending with its last error. When ``should_stop()`` turns true the entries not reached
    yet are left untouched. Returns this run's sent and failed counts and the outbox's pending and dead
    totals afterwards.
    """
    triggers = {(package.name, trigger.key): trigger for package in config.packages for trigger in package.triggers}
    # Templates are rendered with only the variables the configuration lets them read.
    delivery = _Delivery(
        session if session is not None else new_session(environ),
        policy,
        config.template_environment(environ),
        should_stop,
        sleep,
    )
    sent = failed = 0
    try:
        for entry in graph.pending_notifications():
            if shard_of(entry.event.package_name, shard_count) != shard_index:
                continue
            if should_stop():
                _LOGGER.info("Stopping notification delivery early; the remaining entries stay queued")
                break
            trigger = triggers.get((entry.event.package_name, entry.trigger_key))
            if trigger is None:
                _LOGGER.warning(
                    "Notification %d for %s: %s; giving it up", entry.id, _described(entry.event), TRIGGER_REMOVED
                )
                graph.mark_notification(entry.id, status="dead", attempts=entry.attempts, error=TRIGGER_REMOVED)
                continue
            status, attempts, error = delivery.deliver(entry, trigger)
            graph.mark_notification(entry.id, status=status, attempts=attempts, error=error)
            if status == "sent":
                sent += 1
            elif attempts > entry.attempts:  # tried (or found unrenderable) in this run
                failed += 1
    finally:
        if session is None:
            delivery.session.close()
    counts = graph.outbox_counts(shard_index, shard_count)
    return NotificationCounts(sent=sent, failed=failed, pending=counts.get("pending", 0), dead=counts.get("dead", 0))


@dataclass(frozen=True)
class _Attempt:
    """The outcome of one request: sent, or failed with a reason, retryable in this run or not."""

    sent: bool = False
    error: str | None = None
    retry: bool = False
    delay: float | None = None


class _Delivery:
    """Sending of outbox entries within one run."""

    def __init__(
        self,
        session: requests.Session,
        policy: DeliveryPolicy,
        environ: Mapping[str, str],
        should_stop: Callable[[], bool],
        sleep: Callable[[float], None],
    ) -> None:
        self.session = session
        self._policy = policy
        self._environ = environ
        self._should_stop = should_stop
        self._sleep = sleep
        self._warned_hosts: set[str] = set()

    def deliver(self, entry: OutboxEntry, trigger: TriggerConfig) -> tuple[Status, int, str | None]:
        """Try to send one entry; return its new status, its total attempts and its last error (one line)."""
        policy = self._policy
        event = entry.event
        what = f"Notification {entry.id} for {_described(event)}"
        budget = min(policy.tries_per_run, policy.max_attempts - entry.attempts)
        if budget <= 0:
            return "dead", entry.attempts, entry.last_error or "attempt limit reached"
        secrets = _secrets(trigger, self._environ)
        try:
            notification = render_notification(trigger, event, self._environ)
        except TemplateError as problem:
            reason = one_line(f"cannot render the request: {problem}", secrets=secrets)
            _LOGGER.warning("%s: %s", what, reason)
            return self._outcome(entry, 1, reason)
        secrets += secret_header_values(notification.headers)
        shown_url = _shown_url(trigger, event)
        self._warn_if_unverified(notification)
        tries = 0
        error: str | None = None
        while tries < budget:
            if tries > 0 and self._should_stop():
                break
            attempt = self._send(notification, secrets, shown_url)
            tries += 1
            if attempt.sent:
                _LOGGER.info("%s: %s %s: sent", what, notification.method, shown_url)
                return "sent", entry.attempts + tries, None
            error = attempt.error
            _LOGGER.info("%s: %s %s: %s (try %d of %d)", what, notification.method, shown_url, error, tries, budget)
            if not attempt.retry or tries >= budget or self._should_stop():
                break
            self._sleep(self._delay(tries, attempt.delay))
        return self._outcome(entry, tries, error)

    def _outcome(self, entry: OutboxEntry, tries: int, error: str | None) -> tuple[Status, int, str | None]:
        attempts = entry.attempts + tries
        status: Status = "dead" if attempts >= self._policy.max_attempts else "pending"
        if status == "dead":
            _LOGGER.warning("Notification %d: giving up after %d attempts: %s", entry.id, attempts, error)
        return status, attempts, error

    def _send(self, notification: Notification, secrets: Sequence[str], shown_url: str) -> _Attempt:
        """Make one request; never raises."""
        try:
            # The whole request is bounded by the timeout, and cut short when the run is asked to stop.
            # A redirect is not followed: it would turn a POST into a GET and could carry the headers elsewhere.
            response = send(
                self.session,
                notification.method,
                notification.url,
                headers={"User-Agent": USER_AGENT, **notification.headers},
                data=notification.body,
                timeout=self._policy.timeout,
                verify=notification.verify,
                should_stop=self._should_stop,
                shown_url=shown_url,
            )
        except RequestFailed as failure:
            # Masked first (a secret may hold a control character), then cleaned for the log and the outbox.
            return _Attempt(error=clean_text(one_line(failure.reason, secrets=secrets)), retry=failure.retryable)
        code = response.status
        # The receiver's reason phrase may hold any character and be of any length: bounded before masking.
        phrase = clean_text(response.reason or "", limit=MAX_SHOWN)
        reason = one_line(f"HTTP {code} {phrase}", secrets=secrets)
        if 200 <= code < 300:
            return _Attempt(sent=True)
        if retryable_status(code):
            return _Attempt(error=reason, retry=True, delay=retry_after(response.headers.get("Retry-After")))
        if 300 <= code < 400:
            location = display_url(response.headers.get("Location", ""))
            return _Attempt(error=one_line(f"{reason}: redirect to {location or '?'} not followed", secrets=secrets))
        return _Attempt(error=reason)

    def _delay(self, tries: int, retry_after_delay: float | None) -> float:
        """Return how long to wait before the next try: Retry-After when given, else exponential with jitter."""
        return backoff_delay(self._policy.backoff, tries - 1, retry_after_delay)

    def _warn_if_unverified(self, notification: Notification) -> None:
        if notification.verify:
            return
        host = urlsplit(notification.url).hostname or ""
        if host not in self._warned_hosts:
            self._warned_hosts.add(host)
            _LOGGER.warning("TLS verification is off for %s (tls_verify: false in a trigger)", host)


def _described(event: ReleaseEvent) -> str:
    """Return an event for the logs: ``name version`` (``name`` alone without a version), then its kind."""
    what = event.package_name if event.package_version is None else f"{event.package_name} {event.package_version}"
    return f"{what} ({event.kind})"


def _json_details(details: Mapping[str, Any]) -> JsonValue:
    """Return an event's details as a JSON value (they are one already: read from JSON or built of plain values)."""
    loaded: JsonValue = json.loads(json.dumps(details))
    return loaded


def _header_value(name: str, value: str) -> str:
    """Return a rendered header value without surrounding white space; TemplateError when it cannot be sent."""
    value = value.strip(" \t\r\n")
    if _HEADER_CONTROL.search(value):
        raise TemplateError(f"header {name}: the value holds a line break or a control character once rendered")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise TemplateError(f"header {name}: the value holds a character HTTP headers cannot carry") from None
    return value


def _secrets(trigger: TriggerConfig, environ: Mapping[str, str]) -> list[str]:
    """Return the environment values a trigger's headers use: they must never appear in a message."""
    names: set[str] = set()
    for _, template in trigger.headers:
        try:
            names |= placeholders(template) - RELEASE_FIELDS
        except TemplateError:
            continue
    return [environ[name] for name in sorted(names) if environ.get(name)]


def _shown_url(trigger: TriggerConfig, event: ReleaseEvent) -> str:
    """Return a trigger's URL for the logs: release fields filled in, environment placeholders left as ``{NAME}``.

    A webhook URL taken from the environment often is the secret itself (its path carries a token), so its
    value is never shown; the placeholder says where it came from.
    """
    try:
        names = placeholders(trigger.url) - RELEASE_FIELDS
    except TemplateError:
        return display_url(trigger.url)
    values = release_values(
        {name: f"{{{name}}}" for name in names},
        event=event.kind,
        package_name=event.package_name,
        package_version=event.package_version,
        index_url=mask_url(event.index_url),
    )
    return display_url(render(trigger.url, values))
