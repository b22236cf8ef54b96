"""Triggers and release events: the ``events:`` option, the keys of triggers, ``{event}``, the default payload."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.configs import package_named
from thoth.package_releases.config import Config, ConfigError, TriggerConfig, parse_config
from thoth.package_releases.notifications import notifier, render_notification
from thoth.package_releases.values import (
    EVENT_KINDS,
    HASH_MISMATCH,
    MISSING_PACKAGE,
    MISSING_VERSION,
    NEW_FILES,
    NEW_RELEASE,
    REAPPEARED,
    UNYANKED,
    YANKED,
    ReleaseEvent,
)

PYPI = "https://pypi.org/simple"
MIRROR = "http://mirror.example.com:8080/simple"
HOOK = "https://hooks.example/{package_name}"

# The keys these two triggers had before ``events:`` existed (computed with the code of commit 65402a2): the
# entries queued for them then must still find their trigger.
KEYED_TRIGGERS: list[dict[str, Any]] = [
    {
        "url": HOOK,
        "version_specifier": ">=2",
        "prereleases": True,
        "index_url": PYPI,
        "headers": {"X-A": "{package_version}"},
        "payload": {"v": "{package_version}"},
    },
    {"url": "https://hooks.example/plain"},
]
KEYS_BEFORE_EVENTS = [
    "77656df459b62c3b1b41542d97ce23caa4a4835bf8d8715f810b0ca2413a6df6",
    "39cbc8308974e2caf5241fee9547f8fbaa0285a34323d09e2085483e65879408",
]


def triggers(*documents: dict[str, Any], name: str = "tensorflow") -> tuple[TriggerConfig, ...]:
    config = parse_config({"packages": {name: {"triggers": list(documents)}}}, "thoth.yaml", {})
    package = package_named(config, name)
    assert package is not None
    return package.triggers


def only(document: dict[str, Any]) -> TriggerConfig:
    (trigger,) = triggers(document)
    return trigger


def config_error(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        triggers(document)
    message = str(raised.value)
    assert "\n" not in message
    return message


# -- the events: option ------------------------------------------------------------------------------------------


def test_a_trigger_subscribes_to_new_releases_by_default() -> None:
    assert only({"url": HOOK}).events == (NEW_RELEASE,)


def test_events_are_kept_once_each_in_the_order_of_the_kinds() -> None:
    trigger = only({"url": HOOK, "events": [HASH_MISMATCH, YANKED, NEW_RELEASE, YANKED]})
    assert trigger.events == (NEW_RELEASE, YANKED, HASH_MISMATCH)
    assert only({"url": HOOK, "events": list(EVENT_KINDS)}).events == EVENT_KINDS


@pytest.mark.parametrize(
    ("events", "path", "reason"),
    [
        (["yank"], "packages.tensorflow.triggers[0].events[0]", "got 'yank'"),
        ([NEW_RELEASE, 3], "packages.tensorflow.triggers[0].events[1]", "got 3"),
        ([], "packages.tensorflow.triggers[0].events", "at least one event kind"),
        (None, "packages.tensorflow.triggers[0].events", "at least one event kind"),
        ("yanked", "packages.tensorflow.triggers[0].events", "expected a list"),
    ],
)
def test_events_are_validated_against_the_kinds(events: object, path: str, reason: str) -> None:
    message = config_error({"url": HOOK, "events": events})
    assert f"thoth.yaml: {path}: " in message
    assert reason in message
    if "got" in reason and "list" not in reason:
        assert ", ".join(EVENT_KINDS) in message  # names what is allowed


# -- trigger keys ----------------------------------------------------------------------------------------------


def test_keys_of_triggers_without_events_are_the_keys_they_had_before() -> None:
    assert [trigger.key for trigger in triggers(*KEYED_TRIGGERS)] == KEYS_BEFORE_EVENTS


def test_a_trigger_with_the_default_events_written_out_keeps_its_key() -> None:
    written = [{**document, "events": [NEW_RELEASE]} for document in KEYED_TRIGGERS]
    assert [trigger.key for trigger in triggers(*written)] == KEYS_BEFORE_EVENTS


def test_other_events_make_another_trigger_whatever_their_order() -> None:
    plain = only({"url": HOOK}).key
    yanks = only({"url": HOOK, "events": [YANKED, NEW_RELEASE]}).key
    assert yanks != plain
    assert only({"url": HOOK, "events": [NEW_RELEASE, YANKED]}).key == yanks
    assert only({"url": HOOK, "events": [YANKED]}).key not in {plain, yanks}


# -- which triggers an event fires -------------------------------------------------------------------------------


def event(kind: str, version: str | None = "2.1.0", index_url: str = PYPI, name: str = "tensorflow") -> ReleaseEvent:
    return ReleaseEvent(kind, name, version, index_url)


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_a_trigger_fires_only_for_the_kinds_it_subscribes_to(kind: str) -> None:
    version = None if kind == MISSING_PACKAGE else "2.1.0"
    assert only({"url": HOOK, "events": [kind]}).fires(event(kind, version))
    others = [other for other in EVENT_KINDS if other != kind]
    assert not only({"url": HOOK, "events": others}).fires(event(kind, version))


@pytest.mark.parametrize("kind", [NEW_RELEASE, YANKED, UNYANKED, NEW_FILES, MISSING_VERSION, REAPPEARED, HASH_MISMATCH])
def test_version_specifier_and_prereleases_apply_to_events_with_a_version(kind: str) -> None:
    trigger = only({"url": HOOK, "events": list(EVENT_KINDS), "version_specifier": ">=2,<3"})
    assert trigger.fires(event(kind, "2.1.0"))
    assert not trigger.fires(event(kind, "3.0.0"))
    assert not trigger.fires(event(kind, "2.2.0rc1"))  # pre-releases only with prereleases: true
    with_pre = only({"url": HOOK, "events": [kind], "version_specifier": ">=2,<3", "prereleases": True})
    assert with_pre.fires(event(kind, "2.2.0rc1"))


def test_a_missing_package_fires_whatever_the_version_filters_but_only_on_the_trigger_index() -> None:
    trigger = only(
        {
            "url": HOOK,
            "events": [MISSING_PACKAGE],
            "version_specifier": "==9.9",
            "prereleases": False,
            "index_url": PYPI,
        }
    )
    assert trigger.fires(event(MISSING_PACKAGE, None, PYPI))
    assert trigger.fires(event(MISSING_PACKAGE, None, "https://pypi.org/simple/"))  # compared normalized
    assert not trigger.fires(event(MISSING_PACKAGE, None, MIRROR))
    assert not only({"url": HOOK}).fires(event(MISSING_PACKAGE, None))  # not subscribed: never


def test_the_notifier_names_the_triggers_subscribed_to_an_event() -> None:
    config = parse_config(
        {
            "packages": {
                "tensorflow": {
                    "triggers": [
                        {"url": "https://hooks.example/releases"},
                        {"url": "https://hooks.example/yanks", "events": [YANKED, UNYANKED]},
                        {"url": "https://hooks.example/all", "events": list(EVENT_KINDS)},
                    ]
                }
            }
        },
        "thoth.yaml",
        {},
    )
    releases, yanks, every = (trigger.key for trigger in trigger_list(config))
    keys = notifier(config)
    assert keys(event(NEW_RELEASE)) == [releases, every]
    assert keys(event(YANKED)) == [yanks, every]
    assert keys(event(MISSING_PACKAGE, None)) == [every]
    assert keys(event(YANKED, name="flask")) == []  # not monitored


def trigger_list(config: Config) -> tuple[TriggerConfig, ...]:
    package = package_named(config, "tensorflow")
    assert package is not None
    return package.triggers


# -- rendering ---------------------------------------------------------------------------------------------------


def test_the_event_placeholder_holds_the_kind() -> None:
    trigger = only(
        {
            "url": "https://hooks.example/{event}/{package_name}",
            "headers": {"X-Event": "{event}"},
            "payload": {"what": "{event}", "version": "{package_version}"},
            "events": [YANKED],
        }
    )
    notification = render_notification(trigger, ReleaseEvent(YANKED, "tensorflow", "2.0.0", PYPI), {})
    assert notification.url == "https://hooks.example/yanked/tensorflow"
    assert notification.headers["X-Event"] == "yanked"
    assert notification.body is not None
    assert json.loads(notification.body) == {"what": "yanked", "version": "2.0.0"}


@pytest.mark.parametrize(
    "released",
    [
        ReleaseEvent(NEW_RELEASE, "tensorflow", "2.1.0", PYPI),
        ReleaseEvent(YANKED, "tensorflow", "2.0.0", PYPI, {"reason": "broken wheel"}),
        ReleaseEvent(UNYANKED, "tensorflow", "2.0.0", PYPI),
        ReleaseEvent(NEW_FILES, "tensorflow", "2.1.0", PYPI, {"files": [{"filename": "a.whl", "sha256": None}]}),
        ReleaseEvent(MISSING_VERSION, "tensorflow", "1.0", PYPI),
        ReleaseEvent(REAPPEARED, "tensorflow", "1.0", PYPI),
        ReleaseEvent(MISSING_PACKAGE, "tensorflow", None, PYPI),
        ReleaseEvent(HASH_MISMATCH, "tensorflow", "2.1.0", PYPI, {"missing_on_index": ["ab"], "missing_in_graph": []}),
    ],
    ids=lambda released: released.kind,
)
def test_the_default_payload_carries_the_kind_and_the_details(released: ReleaseEvent) -> None:
    trigger = only({"url": HOOK, "events": list(EVENT_KINDS)})
    notification = render_notification(trigger, released, {})
    assert notification.body is not None
    assert json.loads(notification.body) == {
        "event": released.kind,
        "package_name": "tensorflow",
        "package_version": released.package_version,  # null for missing_package
        "index_url": PYPI,
        "details": dict(released.details),
    }


def test_a_missing_package_renders_an_empty_version_in_templates() -> None:
    trigger = only({"url": "https://hooks.example/{package_name}?v={package_version}", "events": [MISSING_PACKAGE]})
    notification = render_notification(trigger, ReleaseEvent(MISSING_PACKAGE, "tensorflow", None, PYPI), {})
    assert notification.url == "https://hooks.example/tensorflow?v="


def test_the_index_url_of_an_event_is_sent_masked() -> None:
    trigger = only({"url": HOOK, "events": [MISSING_PACKAGE]})
    stored = "https://user:s3cret@private.example/simple"
    notification = render_notification(trigger, ReleaseEvent(MISSING_PACKAGE, "tensorflow", None, stored), {})
    assert notification.body is not None
    assert "s3cret" not in notification.body.decode()
