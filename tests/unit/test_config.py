"""Tests of loading and validating the job's configuration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import yaml

from tests.support.configs import package_named
from thoth.package_releases.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    FeedConfig,
    IndexConfig,
    PackageConfig,
    TriggerConfig,
    load_config,
    parse_config,
)
from thoth.package_releases.normalize import PYPI_SIMPLE_URL

REPOSITORY = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "config"
ENVIRON = {
    # Read by the full example's templates, which lists them under template_variables.
    "TENSORFLOW_RELEASE_API": "https://api.example.com",
    "TENSORFLOW_RELEASE_TOKEN": "s3cr3t",
    # Readable by every template (the THOTH_TRIGGER_ prefix).
    "THOTH_TRIGGER_TENSORFLOW_API": "https://api.example.com",
    "THOTH_TRIGGER_TENSORFLOW_TOKEN": "s3cr3t",
}
SOURCE = "thoth.yaml"


def read_as_legacy(path: Path, environ: dict[str, str] | None = None) -> Config:
    """Read a file the way the legacy (2019) format is read: as the ``packages`` section of the current one."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_config({"packages": document}, str(path), ENVIRON if environ is None else environ)


def parse(text: str, environ: dict[str, str] | None = None) -> Config:
    """Parse YAML text as a configuration named SOURCE."""
    return parse_config(yaml.safe_load(text), SOURCE, ENVIRON if environ is None else environ)


def error_of(text: str, environ: dict[str, str] | None = None) -> str:
    """Return the ConfigError message of invalid configuration text."""
    with pytest.raises(ConfigError) as caught:
        parse(text, environ)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- the formats -----------------------------------------------------------------------------------------------


def test_full_example() -> None:
    config = load_config(str(FIXTURES / "full.yaml"), environ=ENVIRON)
    assert config.source == str(FIXTURES / "full.yaml")
    assert config.indexes, "read as the current format (the legacy one has no indexes)"
    every = frozenset({"warehouse_api_url", "verify_ssl", "enabled", "only_if_package_seen"})
    assert config.indexes == (
        IndexConfig(url="https://pypi.org/simple", warehouse_api_url="https://pypi.org/pypi", written_keys=every),
        IndexConfig(url="https://test.pypi.org/simple", enabled=False, written_keys=frozenset({"enabled"})),
        IndexConfig(
            url="http://mirror.example.com:8080/simple",
            verify_ssl=False,
            only_if_package_seen=False,
            written_keys=frozenset({"verify_ssl", "only_if_package_seen"}),  # the keys written: applied to the row
        ),
    )
    assert config.feeds == (
        FeedConfig(url="https://pypi.org/rss/updates.xml", index_url=PYPI_SIMPLE_URL),
        FeedConfig(url="https://mirror.example.com/rss.xml", index_url="http://mirror.example.com:8080/simple"),
    )
    assert [package.name for package in config.packages] == ["tensorflow", "click", "thoth-storages", "zope-interface"]
    tensorflow = config.packages[0]
    assert tensorflow.triggers == (
        TriggerConfig(
            url="{TENSORFLOW_RELEASE_API}/tensorflow/release/{package_version}",
            method="POST",
            headers=(("Authorization", "Bearer {TENSORFLOW_RELEASE_TOKEN}"), ("X-Source", "package-releases-job")),
            payload={
                "name": "{package_name}",
                "version": "{package_version}",
                "{package_name}-index": "{index_url}",
                "literal": "{{not a placeholder}}",
                "numbers": [1, 2.5, True, None],
            },
            tls_verify=False,
            version_specifier=">=2.0, <3",
            prereleases=True,
            index_url="https://pypi.org/simple",
        ),
        TriggerConfig(url="https://hooks.example.com/any-release"),
    )
    assert package_named(config, "click") == PackageConfig(name="click")
    assert package_named(config, "thoth_storages") == PackageConfig(name="thoth-storages")
    assert package_named(config, "Zope.Interface") == PackageConfig(name="zope-interface")
    assert package_named(config, "numpy") is None
    assert config.monitored_names == frozenset({"tensorflow", "click", "thoth-storages", "zope-interface"})


def test_legacy_pypi_url_is_normalized_and_duplicates_pypi_org() -> None:
    config = parse("indexes: [{url: 'https://pypi.python.org/simple/'}]")
    assert config.indexes == (IndexConfig(url="https://pypi.org/simple"),)
    message = error_of("indexes: [{url: 'https://pypi.org/simple'}, {url: 'https://pypi.python.org/simple'}]")
    assert message == "thoth.yaml: indexes[1].url: duplicate index 'https://pypi.org/simple'"


def test_shipped_example_loads_without_environment() -> None:
    config = load_config(str(REPOSITORY / DEFAULT_CONFIG), environ={})
    assert config.indexes == (
        IndexConfig(
            url="https://pypi.org/simple",
            warehouse_api_url="https://pypi.org/pypi",
            written_keys=frozenset({"warehouse_api_url", "verify_ssl", "enabled", "only_if_package_seen"}),
        ),
    )
    assert config.feeds == (
        FeedConfig(url="https://pypi.org/rss/updates.xml"),
        FeedConfig(url="https://pypi.org/rss/packages.xml"),
    )
    assert config.packages == (
        PackageConfig(name="tensorflow"),
        PackageConfig(name="click"),
        PackageConfig(name="thoth-storages"),
        PackageConfig(name="pytz"),
    )
    assert config.indexes, "read as the current format (the legacy one has no indexes)"


def test_shipped_example_commented_trigger_is_valid() -> None:
    """The commented-out trigger documented in the example is valid once uncommented."""
    lines = (REPOSITORY / DEFAULT_CONFIG).read_text().splitlines()
    start = lines.index("    # triggers:")
    uncommented = []
    for number, line in enumerate(lines):
        if number >= start and line.startswith("    #"):
            line = "    " + line[len("    # ") :] if line.startswith("    # ") else ""
        elif number >= start and not line.startswith("    "):
            start = len(lines)
        uncommented.append(line)
    config = parse("\n".join(uncommented))
    (trigger,) = config.packages[0].triggers
    assert trigger.url == "{THOTH_TRIGGER_TENSORFLOW_API}/tensorflow/release/{package_version}"
    assert trigger.headers == (("Authorization", "Bearer {THOTH_TRIGGER_TENSORFLOW_TOKEN}"),)
    assert trigger.version_specifier == ">=2.0"
    assert trigger.events == ("new_release", "yanked")


def test_legacy_format() -> None:
    config = load_config(str(FIXTURES / "legacy.yaml"), environ={})
    assert config == read_as_legacy(FIXTURES / "legacy.yaml", environ={})
    assert config.indexes == ()
    assert config.feeds == ()
    assert config.packages == (
        PackageConfig(
            name="tensorflow",
            triggers=(
                TriggerConfig(url="https://tensorflow-release.example.com/release", tls_verify=False),
                TriggerConfig(url="http://other.example.com/hook/{package_name}/{package_version}"),
            ),
        ),
        PackageConfig(name="thoth-storages"),
    )


def test_legacy_error_paths_have_no_packages_prefix() -> None:
    message = error_of("tensorflow:\n  triggers:\n    - url: https://x.example.com\n      tls_verify: 'no'\n")
    assert message == (
        "thoth.yaml: tensorflow.triggers[0].tls_verify: expected a boolean (true or false), got 'no' (string)"
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}", "indexes:\nfeeds:\npackages:\n"])
def test_empty_configuration(text: str) -> None:
    assert parse(text) == Config(source=SOURCE)


def test_package_without_triggers() -> None:
    config = parse("packages:\n  click:\n  six: {}\n  numpy: {triggers: []}\n")
    assert config.packages == (PackageConfig("click"), PackageConfig("six"), PackageConfig("numpy"))


def test_defaults() -> None:
    config = parse(
        "indexes: [{url: 'https://pypi.org/simple'}]\n"
        "feeds: [{url: 'https://pypi.org/rss/updates.xml'}]\n"
        "packages: {a: {triggers: [{url: 'https://h.example.com'}]}}\n"
    )
    assert config.indexes == (IndexConfig(url="https://pypi.org/simple"),)
    assert config.feeds == (FeedConfig(url="https://pypi.org/rss/updates.xml", index_url="https://pypi.org/simple"),)
    trigger = config.packages[0].triggers[0]
    assert (trigger.method, trigger.headers, trigger.payload, trigger.tls_verify) == ("POST", (), None, True)
    assert (trigger.version_specifier, trigger.prereleases, trigger.index_url) == (None, False, None)


def test_feed_index_url_is_normalized() -> None:
    config = parse("feeds: [{url: 'https://x.example.com/rss', index_url: 'https://pypi.python.org/simple/'}]")
    assert config.feeds[0].index_url == "https://pypi.org/simple"


def test_method_is_case_insensitive() -> None:
    config = parse("packages: {a: {triggers: [{url: 'https://h.example.com', method: patch}]}}")
    assert config.packages[0].triggers[0].method == "PATCH"


# -- validation errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "thoth.yaml: expected a mapping at the top level, got list"),
        ("indexes: {url: x}", "thoth.yaml: indexes: expected a list, got mapping"),
        ("indexes: [https://pypi.org/simple]", "thoth.yaml: indexes[0]: expected a mapping, got 'https://pypi.org"),
        ("indexes: [{verify_ssl: true}]", "thoth.yaml: indexes[0].url: missing required key"),
        (
            "indexes: [{url: 'https://pypi.org/simple', verify_sll: true}]",
            "thoth.yaml: indexes[0].verify_sll: unknown key; allowed keys: url, warehouse_api_url, verify_ssl, "
            "enabled, only_if_package_seen",
        ),
        (
            "indexes: [{url: 'https://pypi.org/simple', verify_ssl: 'yes'}]",
            "thoth.yaml: indexes[0].verify_ssl: expected a boolean (true or false), got 'yes' (string)",
        ),
        (
            "indexes: [{url: 'https://pypi.org/simple', enabled: 1}]",
            "thoth.yaml: indexes[0].enabled: expected a boolean (true or false), got 1 (integer)",
        ),
        (
            "indexes: [{url: 'https://pypi.org/simple', only_if_package_seen: null}]",
            "thoth.yaml: indexes[0].only_if_package_seen: expected a boolean (true or false), got null",
        ),
        ("indexes: [{url: 'ftp://x'}]", "thoth.yaml: indexes[0].url: expected an http(s) URL, got 'ftp://x'"),
        ("indexes: [{url: 'https://'}]", "thoth.yaml: indexes[0].url: expected an http(s) URL, got 'https://'"),
        ("indexes: [{url: 'pypi.org/simple'}]", "indexes[0].url: expected an http(s) URL, got 'pypi.org/simple'"),
        ("indexes: [{url: 'https://h:99999/simple'}]", "indexes[0].url: expected an http(s) URL"),
        ("indexes: [{url: 'https://a b/simple'}]", "indexes[0].url: expected an http(s) URL"),
        ("indexes: [{url: 42}]", "thoth.yaml: indexes[0].url: expected a string, got 42 (integer)"),
        (
            "indexes: [{url: 'https://pypi.org/simple', warehouse_api_url: 'file:///etc/passwd'}]",
            "indexes[0].warehouse_api_url: expected an http(s) URL, got 'file:///etc/passwd'",
        ),
        (
            "indexes: [{url: 'https://pypi.org/simple'}, {url: 'https://pypi.org/simple/'}]",
            "thoth.yaml: indexes[1].url: duplicate index 'https://pypi.org/simple'",
        ),
        ("feeds: [{index_url: 'https://pypi.org/simple'}]", "thoth.yaml: feeds[0].url: missing required key"),
        ("feeds: [{url: 'https://x.example.com/rss', index: x}]", "feeds[0].index: unknown key; allowed keys: url, "),
        ("feeds: [{url: 'gopher://x'}]", "thoth.yaml: feeds[0].url: expected an http(s) URL, got 'gopher://x'"),
        ("feeds: [{url: 'https://x.example.com/rss', index_url: 3}]", "feeds[0].index_url: expected a string, got 3"),
        (
            "feeds: [{url: 'https://x.example.com/rss'}, {url: 'https://x.example.com/rss'}]",
            "thoth.yaml: feeds[1].url: duplicate feed 'https://x.example.com/rss'",
        ),
        ("packages: [tensorflow]", "thoth.yaml: packages: expected a mapping of package names, got list"),
        ("packages: {tensorflow: [x]}", "thoth.yaml: packages.tensorflow: expected a mapping, got list"),
        (
            "packages: {tensorflow: {trigger: []}}",
            "thoth.yaml: packages.tensorflow.trigger: unknown key; allowed keys: triggers",
        ),
        (
            "packages: {tensorflow: {triggers: {url: x}}}",
            "thoth.yaml: packages.tensorflow.triggers: expected a list, got mapping",
        ),
        ("packages: {1234: {}}", "thoth.yaml: packages: expected a package name, got 1234 (integer) (quote it)"),
        (
            "packages: {'-bad': {}}",
            "thoth.yaml: packages.-bad: invalid package name: expected letters, digits, '.', '_' and '-', "
            "alphanumeric at both ends",
        ),
        ("packages: {'bad name': {}}", 'thoth.yaml: packages."bad name": invalid package name'),
        ("packages: {'bad.': {}}", 'thoth.yaml: packages."bad.": invalid package name'),
        ("packages: {'': {}}", 'thoth.yaml: packages."": invalid package name'),
        (
            "packages: {thoth-storages: {}, Thoth_Storages: {}}",
            "thoth.yaml: packages.Thoth_Storages: duplicate of package 'thoth-storages' (names are compared after "
            "PEP 503 normalization)",
        ),
        (
            "packages: {a: {triggers: [{method: POST}]}}",
            "thoth.yaml: packages.a.triggers[0].url: missing required key",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', tls_verfy: false}]}}",
            "thoth.yaml: packages.a.triggers[0].tls_verfy: unknown key; allowed keys: url, method, headers, payload, "
            "tls_verify, version_specifier, prereleases, index_url",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', method: DELETE}]}}",
            "thoth.yaml: packages.a.triggers[0].method: expected one of GET, PATCH, POST, PUT, got 'DELETE'",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', method: 1}]}}",
            "packages.a.triggers[0].method: expected a string, got 1 (integer)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', version_specifier: '>=abc'}]}}",
            "thoth.yaml: packages.a.triggers[0].version_specifier: expected a PEP 440 version specifier such as "
            "'>=2.0,<3', got '>=abc' (string)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', version_specifier: 'latest'}]}}",
            "packages.a.triggers[0].version_specifier: expected a PEP 440 version specifier",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', version_specifier: ''}]}}",
            "packages.a.triggers[0].version_specifier: expected a PEP 440 version specifier",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', version_specifier: 2.0}]}}",
            "packages.a.triggers[0].version_specifier: expected a string, got 2.0 (number)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', prereleases: 'true'}]}}",
            "packages.a.triggers[0].prereleases: expected a boolean (true or false), got 'true' (string)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', tls_verify: 'false'}]}}",
            "packages.a.triggers[0].tls_verify: expected a boolean (true or false), got 'false' (string)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', index_url: 'pypi'}]}}",
            "packages.a.triggers[0].index_url: expected an http(s) URL, got 'pypi'",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', headers: [x]}]}}",
            "packages.a.triggers[0].headers: expected a mapping of header names to values, got list",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', headers: {'Bad Header': x}}]}}",
            "packages.a.triggers[0].headers: expected an HTTP header name, got 'Bad Header' (string)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', headers: {X-Count: 5}}]}}",
            "packages.a.triggers[0].headers.X-Count: expected a string, got 5 (integer)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', headers: {X-A: a, x-a: b}}]}}",
            "packages.a.triggers[0].headers.x-a: duplicate header (same as 'X-A')",
        ),
        (
            'packages: {a: {triggers: [{url: "https://h.example.com", headers: {X-A: "a\\r\\nX-B: b"}}]}}',
            "packages.a.triggers[0].headers.X-A: a header value must not contain a line break",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', payload: {1: x}}]}}",
            "packages.a.triggers[0].payload: expected string keys in a JSON payload, got 1 (integer)",
        ),
        (
            "packages: {a: {triggers: [{url: 'https://h.example.com', payload: {when: 2019-01-01}}]}}",
            "packages.a.triggers[0].payload.when: expected a JSON value (string, number, boolean, null, list, "
            "mapping), got datetime.date(2019, 1, 1) (date)",
        ),
    ],
)
def test_validation_errors(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_credentials_in_urls_are_rejected_and_masked() -> None:
    hint = "credentials must not be written in the configuration; put them in ~/.netrc (see README)"
    for key, text in [
        ("indexes[0].url", "indexes: [{url: 'https://alice:hunter2@pypi.example.com/simple'}]"),
        (
            "indexes[0].warehouse_api_url",
            "indexes: [{url: 'https://pypi.org/simple', warehouse_api_url: 'https://alice:hunter2@pypi.org/pypi'}]",
        ),
        ("feeds[0].url", "feeds: [{url: 'https://alice:hunter2@x.example.com/rss'}]"),
        ("feeds[0].index_url", "feeds: [{url: 'https://x.example.com/rss', index_url: 'https://alice:hunter2@x/s'}]"),
        (
            "packages.a.triggers[0].index_url",
            "packages: {a: {triggers: [{url: 'https://h.example.com', index_url: 'https://alice:hunter2@x/s'}]}}",
        ),
    ]:
        message = error_of(text)
        assert message.startswith(f"thoth.yaml: {key}: {hint}")
        assert "hunter2" not in message
        assert "alice" not in message
        assert "***@" in message


def test_token_as_user_name_is_rejected_and_hidden() -> None:
    message = error_of("indexes: [{url: 'https://ghp_token@pypi.example.com:8443/simple'}]")
    assert message == (
        "thoth.yaml: indexes[0].url: credentials must not be written in the configuration; put them in ~/.netrc "
        "(see README); got 'https://***@pypi.example.com:8443/simple'"
    )


def test_mixed_sections_and_package_names() -> None:
    message = error_of("indexes: []\npackage:\n  click: {}\n")
    assert message == "thoth.yaml: package: unknown key; allowed keys: indexes, feeds, packages, template_variables"


def test_non_string_top_level_key() -> None:
    assert "thoth.yaml: expected string keys, got 1 (integer)" in error_of("indexes: []\n1: x\n")


def test_dotted_package_name_path_is_quoted() -> None:
    message = error_of("packages: {zope.interface: {triggers: [{url: 'ftp://x'}]}}")
    assert message.startswith('thoth.yaml: packages."zope.interface".triggers[0].url: expected an http(s) URL')


# -- trigger templates -----------------------------------------------------------------------------------------


def trigger_error(trigger: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    """Return the error of a configuration with one trigger for package 'a'."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"packages": {"a": {"triggers": [trigger]}}}, SOURCE, ENVIRON if environ is None else environ)
    return str(caught.value)


def test_trigger_url_unknown_placeholder() -> None:
    message = trigger_error({"url": "{RELEASE_API}/{package_version}"})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].url: unknown placeholder {RELEASE_API}")
    assert "neither a release field" in message


def test_trigger_url_needs_the_environment_variable_to_be_set() -> None:
    url = "{THOTH_TRIGGER_TENSORFLOW_API}/tensorflow/release/{package_version}"
    assert "unknown placeholder {THOTH_TRIGGER_TENSORFLOW_API}" in trigger_error({"url": url}, environ={})
    config = parse_config({"packages": {"a": {"triggers": [{"url": url}]}}}, SOURCE, ENVIRON)
    assert config.packages[0].triggers[0].url == url


@pytest.mark.parametrize("url", ["{a.__class__}", "{package_name!r}", "{package_version:>9}", "{}", "{0}", "{x"])
def test_trigger_url_forbidden_syntax(url: str) -> None:
    message = trigger_error({"url": "https://h.example.com/" + url})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].url: ")
    assert "forbidden placeholder" in message or "invalid template" in message


def test_trigger_url_must_render_to_http_url() -> None:
    message = trigger_error(
        {"url": "{THOTH_TRIGGER_API}/hook"}, environ={"THOTH_TRIGGER_API": "ftp://files.example.com"}
    )
    assert message == (
        "thoth.yaml: packages.a.triggers[0].url: expected an http(s) URL once rendered (with sample release "
        "values), got '{THOTH_TRIGGER_API}/hook'"
    )
    assert "expected an http(s) URL once rendered" in trigger_error({"url": "{package_name}"})
    assert "expected an http(s) URL once rendered" in trigger_error(
        {"url": "{THOTH_TRIGGER_API}"}, environ={"THOTH_TRIGGER_API": ""}
    )


def test_trigger_url_error_does_not_show_environment_values() -> None:
    message = trigger_error({"url": "{THOTH_TRIGGER_API}/hook"}, environ={"THOTH_TRIGGER_API": "not a url with s3cr3t"})
    assert "s3cr3t" not in message


def test_trigger_url_with_index_url_placeholder() -> None:
    url = "https://h.example.com/hook?index={index_url}&name={package_name}"
    config = parse_config({"packages": {"a": {"triggers": [{"url": url}]}}}, SOURCE, {})
    assert config.packages[0].triggers[0].url == url


def test_trigger_header_templates() -> None:
    message = trigger_error({"url": "https://h.example.com", "headers": {"Authorization": "Bearer {TOKEN}"}})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].headers.Authorization: unknown placeholder {TOKEN}")
    message = trigger_error({"url": "https://h.example.com", "headers": {"X-A": "{TOKEN.x}"}})
    assert "headers.X-A: forbidden placeholder {TOKEN.x}" in message


def test_trigger_payload_templates() -> None:
    message = trigger_error({"url": "https://h.example.com", "payload": {"a": [{"b": "{TOKEN}"}]}})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].payload.a[0].b: unknown placeholder {TOKEN}")
    message = trigger_error({"url": "https://h.example.com", "payload": {"{KEY}": 1}})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].payload: unknown placeholder {KEY}")
    message = trigger_error({"url": "https://h.example.com", "payload": "{package_name!s}"})
    assert message.startswith("thoth.yaml: packages.a.triggers[0].payload: forbidden placeholder")


@pytest.mark.parametrize("payload", ["{package_name}", 1, 2.5, True, [], {}, ["a", {"b": None}]])
def test_trigger_payload_any_json_value(payload: object) -> None:
    config = parse_config({"packages": {"a": {"triggers": [{"url": "https://h", "payload": payload}]}}}, SOURCE, {})
    assert config.packages[0].triggers[0].payload == payload


def test_trigger_payload_null_means_default() -> None:
    config = parse_config({"packages": {"a": {"triggers": [{"url": "https://h", "payload": None}]}}}, SOURCE, {})
    assert config.packages[0].triggers[0].payload is None


def test_trigger_payload_self_reference_is_rejected() -> None:
    message = error_of("packages: {a: {triggers: [{url: 'https://h', payload: &loop [*loop]}]}}")
    assert "packages.a.triggers[0].payload: the payload is too large or too deeply nested" in message


def test_trigger_payload_alias_bomb_is_rejected() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [*a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}, *a{n - 1}]" for n in range(1, 9)]
    text = "packages: {a: {triggers: [{url: 'https://h', payload: {" + ", ".join(levels) + "}}]}}"
    assert "the payload is too large or too deeply nested" in error_of(text)


# -- TriggerConfig ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specifier", "prereleases", "version", "expected"),
    [
        (None, False, "1.0.0", True),
        (None, False, "2.0.0rc1", False),
        (None, True, "2.0.0rc1", True),
        (None, False, "2.0.0.dev1", False),
        (None, True, "2.0.0.dev1", True),
        (None, False, "2.0.0.post1", True),
        (">=2.0", False, "2.1.0", True),
        (">=2.0", False, "1.15.0", False),
        (">=2.0", False, "2.1.0rc1", False),
        (">=2.0", True, "2.1.0rc1", True),
        (">=2.0", True, "1.15.0rc1", False),
        (">=2.0,<3", False, "3.0.0", False),
        (">=2.0, <3", False, "2.9.9", True),
        ("==2.*", False, "2.4", True),
        ("~=1.4", False, "1.9", True),
        ("~=1.4", False, "2.0", False),
        ("!=1.0", False, "1.0.0", False),
        (None, False, "not-a-version", False),
        (None, True, "2019.legacy", False),
        (">=2.0", False, " 2.1.0 ", True),
    ],
)
def test_trigger_matches_versions(specifier: str | None, prereleases: bool, version: str, expected: bool) -> None:
    trigger = TriggerConfig(url="https://h", version_specifier=specifier, prereleases=prereleases)
    assert trigger.matches(version, "https://pypi.org/simple") is expected


def test_trigger_matches_index_filter() -> None:
    trigger = TriggerConfig(url="https://h", index_url="https://pypi.org/simple")
    assert trigger.matches("1.0", "https://pypi.org/simple")
    assert trigger.matches("1.0", "https://pypi.org/simple/")
    assert trigger.matches("1.0", "https://pypi.python.org/simple")
    assert not trigger.matches("1.0", "https://mirror.example.com/simple")
    unfiltered = TriggerConfig(url="https://h")
    assert unfiltered.matches("1.0", "https://mirror.example.com/simple")


def test_trigger_matches_from_parsed_configuration() -> None:
    trigger = load_config(str(FIXTURES / "full.yaml"), environ=ENVIRON).packages[0].triggers[0]
    assert trigger.matches("2.1.0rc1", "https://pypi.org/simple/")
    assert not trigger.matches("2.1.0", "http://mirror.example.com:8080/simple")
    assert not trigger.matches("3.0.0", "https://pypi.org/simple")


def test_trigger_key_is_canonical_sha256() -> None:
    trigger = TriggerConfig(url="https://h.example.com/{package_version}")
    fields: dict[str, object] = {
        "url": "https://h.example.com/{package_version}",
        "method": "POST",
        "headers": [],
        "payload": None,
        "tls_verify": True,
        "version_specifier": None,
        "prereleases": False,
        "index_url": None,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert trigger.key == hashlib.sha256(canonical.encode()).hexdigest()
    assert len(trigger.key) == 64


def test_trigger_key_stability() -> None:
    first = TriggerConfig(url="https://h", headers=(("A", "1"),), payload={"b": 1, "a": [1, 2]})
    same = TriggerConfig(url="https://h", headers=(("A", "1"),), payload={"a": [1, 2], "b": 1})
    assert first.key == same.key
    assert first.key == first.key
    base = TriggerConfig(url="https://h")
    changes: list[dict[str, Any]] = [
        {"url": "https://i"},
        {"method": "PUT"},
        {"headers": (("A", "1"),)},
        {"payload": {}},
        {"tls_verify": False},
        {"version_specifier": ">=1"},
        {"prereleases": True},
        {"index_url": "https://pypi.org/simple"},
    ]
    keys = {base.key} | {replace(base, **change).key for change in changes}
    assert len(keys) == len(changes) + 1


def test_trigger_key_pinned() -> None:
    """The key is persisted with queued notifications: it must not change between releases of the job."""
    trigger = TriggerConfig(url="https://h.example.com/hook", payload={"v": "{package_version}"})
    expected = hashlib.sha256(
        b'{"headers":[],"index_url":null,"method":"POST","payload":{"v":"{package_version}"},"prereleases":false,'
        b'"tls_verify":true,"url":"https://h.example.com/hook","version_specifier":null}'
    ).hexdigest()
    assert trigger.key == expected


def test_trigger_with_payload_is_hashable() -> None:
    trigger = TriggerConfig(url="https://h", payload={"a": [1]})
    assert trigger in {trigger}


def test_values_are_frozen() -> None:
    config = parse("packages: {a: {}}")
    with pytest.raises(AttributeError):
        config.packages = ()  # type: ignore[misc]


# -- reading ---------------------------------------------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/nonexistent/thoth.yaml")
    assert str(caught.value) == "/nonexistent/thoth.yaml: cannot read the configuration: No such file or directory"


def test_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration"):
        load_config(str(tmp_path))


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("packages:\n" + "".join(f"  p{n}: {{}}\n" for n in range(100)))
    with pytest.raises(ConfigError, match="larger than 100 bytes"):
        load_config(str(path), max_bytes=100)
    assert len(load_config(str(path), environ={}).packages) == 100


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("packages: {caf\xe9: {}}".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(path))


def test_unsupported_scheme() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("ftp://user:pw@files.example.com/thoth.yaml")
    assert str(caught.value) == "ftp://user:***@files.example.com/thoth.yaml: expected a local path or an http(s) URL"


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("packages:\n  click: {}\n  six: [\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: line 4, column 1: invalid YAML: ")
    assert "\n" not in message


def test_unsafe_yaml_tag_is_rejected_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "unsafe.yaml"
    path.write_text(f"packages: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value).startswith(f"{path}: line 1, column 11: invalid YAML: could not determine a constructor")
    assert not marker.exists()


def test_python_object_tag_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "unsafe.yaml"
    path.write_text("packages:\n  a: !!python/object:collections.OrderedDict {}\n")
    with pytest.raises(ConfigError, match=r"line 2, column 6: invalid YAML: could not determine a constructor"):
        load_config(str(path))


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("packages:\n  tensorflow:\n    triggers: []\n  click: {}\n  tensorflow: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert str(caught.value) == f"{path}: line 5, column 3: invalid YAML: duplicate key 'tensorflow' (first at line 2)"


def test_deeply_nested_yaml(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("packages: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="invalid YAML: nested too deeply"):
        load_config(str(path))


def test_yaml_aliases_and_merge_keys_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "packages:\n  a: &common\n    triggers: [{url: 'https://h.example.com'}]\n  b: *common\n  c:\n    <<: *common\n"
    )
    config = load_config(str(path), environ={})
    assert [len(package.triggers) for package in config.packages] == [1, 1, 1]


def test_load_config_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("packages: {a: {triggers: [{url: '{THOTH_TRIGGER_HOOK_BASE}/x'}]}}\n")
    monkeypatch.delenv("THOTH_TRIGGER_HOOK_BASE", raising=False)
    with pytest.raises(ConfigError, match=r"unknown placeholder \{THOTH_TRIGGER_HOOK_BASE\}"):
        load_config(str(path))
    monkeypatch.setenv("THOTH_TRIGGER_HOOK_BASE", "https://hooks.example.com")
    assert load_config(str(path)).packages[0].triggers[0].url == "{THOTH_TRIGGER_HOOK_BASE}/x"


CONFIG_URL = "https://config.example.com/thoth.yaml"


@responses.activate
def test_url_source() -> None:
    responses.get(CONFIG_URL, body=(REPOSITORY / DEFAULT_CONFIG).read_bytes())
    config = load_config(CONFIG_URL, environ={}, timeout=3.0)
    assert config.source == CONFIG_URL
    assert config.monitored_names == frozenset({"tensorflow", "click", "thoth-storages", "pytz"})
    (call,) = responses.calls
    sent: dict[str, Any] = call.request.req_kwargs  # type: ignore[attr-defined]
    assert sent["timeout"] == 3.0
    assert sent["verify"] not in (False, None)
    assert sent["stream"] is True


@responses.activate
def test_url_source_with_credentials_is_masked() -> None:
    url = "https://bot:hunter2@config.example.com/thoth.yaml"
    responses.get(url, body="packages: {a: {triggers: [{url: 'ftp://x'}]}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(url, environ={})
    message = str(caught.value)
    assert message.startswith("https://bot:***@config.example.com/thoth.yaml: packages.a.triggers[0].url:")
    assert "hunter2" not in message


@responses.activate
def test_url_source_http_error() -> None:
    responses.get(CONFIG_URL, status=404)
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG_URL)
    assert str(caught.value) == f"{CONFIG_URL}: cannot fetch the configuration: HTTP 404 Not Found"


@responses.activate
def test_url_source_oversized_by_content_length() -> None:
    responses.get(CONFIG_URL, body=b"packages: {}\n" + b"#" * 2000)
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG_URL, max_bytes=1000)
    assert str(caught.value) == f"{CONFIG_URL}: the configuration is larger than 1000 bytes"


@responses.activate
def test_url_source_oversized_without_content_length() -> None:
    responses.get(CONFIG_URL, body=b"#" * 200_000, auto_calculate_content_length=False)
    with pytest.raises(ConfigError, match="larger than 100000 bytes"):
        load_config(CONFIG_URL, max_bytes=100_000)


@responses.activate
def test_url_source_connection_error_masks_credentials() -> None:
    url = "https://bot:hunter2@config.example.com/thoth.yaml"
    responses.get(url, body=requests.ConnectionError(f"cannot connect to {url}"))
    with pytest.raises(ConfigError) as caught:
        load_config(url)
    message = str(caught.value)
    assert message.startswith("https://bot:***@config.example.com/thoth.yaml: cannot fetch the configuration: ")
    assert "ConnectionError" in message
    assert "hunter2" not in message


@responses.activate
def test_url_source_timeout() -> None:
    responses.get(CONFIG_URL, body=requests.Timeout("read timed out"))
    with pytest.raises(ConfigError, match="cannot fetch the configuration: Timeout: read timed out"):
        load_config(CONFIG_URL)


@responses.activate
def test_url_source_yaml_error() -> None:
    responses.get(CONFIG_URL, body="packages: [\n")
    with pytest.raises(ConfigError, match=rf"^{CONFIG_URL}: line 2, column 1: invalid YAML: "):
        load_config(CONFIG_URL)


def test_config_error_fields() -> None:
    error = ConfigError("https://u:p@h/c.yaml", "indexes[0].url", "bad\nthing")
    assert (error.source, error.path, error.reason) == ("https://u:***@h/c.yaml", "indexes[0].url", "bad thing")
    assert str(error) == "https://u:***@h/c.yaml: indexes[0].url: bad thing"
    assert str(ConfigError("c.yaml", "", "unreadable")) == "c.yaml: unreadable"


# -- which environment variables templates may read ---------------------------------------------------------------


def test_templates_read_thoth_trigger_variables_without_listing_them() -> None:
    config = parse_config(
        {"packages": {"a": {"triggers": [{"url": "{THOTH_TRIGGER_API}/x"}]}}},
        SOURCE,
        {"THOTH_TRIGGER_API": "https://hooks.example.com", "OTHER": "x"},
    )

    assert config.packages[0].triggers[0].url == "{THOTH_TRIGGER_API}/x"
    assert config.template_environment({"THOTH_TRIGGER_API": "a", "OTHER": "b"}) == {"THOTH_TRIGGER_API": "a"}


def test_templates_read_listed_variables() -> None:
    document = {"template_variables": ["HOOK_API"], "packages": {"a": {"triggers": [{"url": "{HOOK_API}/x"}]}}}

    config = parse_config(document, SOURCE, {"HOOK_API": "https://hooks.example.com", "OTHER": "x"})

    assert config.template_variables == ("HOOK_API",)
    assert config.template_environment({"HOOK_API": "a", "OTHER": "b"}) == {"HOOK_API": "a"}


def test_a_set_but_unlisted_variable_is_a_configuration_error() -> None:
    message = trigger_error({"url": "{HOOK_API}/x"}, environ={"HOOK_API": "https://hooks.example.com"})

    assert message.startswith("thoth.yaml: packages.a.triggers[0].url: unknown placeholder {HOOK_API} in ")
    assert "THOTH_TRIGGER_* or one listed in template_variables" in message


@pytest.mark.parametrize("where", ["url", "header", "payload"])
def test_the_knowledge_graph_password_is_never_readable(where: str) -> None:
    trigger: dict[str, Any] = {"url": "https://hooks.example.com/x"}
    if where == "url":
        trigger["url"] = "https://hooks.example.com/x?pw={KNOWLEDGE_GRAPH_PASSWORD}"
    elif where == "header":
        trigger["headers"] = {"X-Pw": "{KNOWLEDGE_GRAPH_PASSWORD}"}
    else:
        trigger["payload"] = {"pw": "{KNOWLEDGE_GRAPH_PASSWORD}"}

    message = trigger_error(trigger, environ={"KNOWLEDGE_GRAPH_PASSWORD": "Kg-Pa55"})

    assert "unknown placeholder {KNOWLEDGE_GRAPH_PASSWORD}" in message
    assert "Kg-Pa55" not in message


@pytest.mark.parametrize(
    "name", ["KNOWLEDGE_GRAPH_PASSWORD", "THOTH_PACKAGE_RELEASES_DATABASE_URL", "PGPASSWORD", "SENTRY_DSN"]
)
def test_reserved_variables_cannot_be_listed(name: str) -> None:
    message = error_of(f"template_variables: [{name}]\n")

    assert message.startswith(f"thoth.yaml: template_variables[0]: templates may not read {name}: ")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("[1]", "expected a string, got 1 (integer)"),
        ("['A B']", "expected an environment variable name"),
        ("[A, A]", "duplicate variable 'A'"),
        ("A", "expected a list"),
    ],
)
def test_template_variables_must_be_a_list_of_names(value: str, reason: str) -> None:
    assert reason in error_of(f"template_variables: {value}\n")


def test_legacy_format_templates_read_only_thoth_trigger_variables() -> None:
    environ = {"HOOK_API": "https://a.example.com", "THOTH_TRIGGER_API": "https://b.example.com"}

    config = parse_config({"a": {"triggers": [{"url": "{THOTH_TRIGGER_API}/x"}]}}, SOURCE, environ)
    assert config.packages[0].triggers[0].url == "{THOTH_TRIGGER_API}/x"
    with pytest.raises(ConfigError, match=r"unknown placeholder \{HOOK_API\}"):
        parse_config({"a": {"triggers": [{"url": "{HOOK_API}/x"}]}}, SOURCE, environ)


# -- control characters, NaN, long names --------------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x08", "\x7f", "\x85"])
@pytest.mark.parametrize("where", ["indexes[0].url", "feeds[0].url", "packages.a.triggers[0].url"])
def test_a_control_character_in_a_configured_url_is_an_error(where: str, character: str) -> None:
    url = f"https://h.example.com/a{character}b"
    documents: dict[str, dict[str, Any]] = {
        "indexes[0].url": {"indexes": [{"url": url}]},
        "feeds[0].url": {"feeds": [{"url": url}]},
        "packages.a.triggers[0].url": {"packages": {"a": {"triggers": [{"url": url}]}}},
    }
    document = documents[where]

    with pytest.raises(ConfigError) as caught:
        parse_config(document, SOURCE, {})

    assert caught.value.path == where
    assert character not in str(caught.value)


def test_a_control_character_in_a_header_template_is_an_error() -> None:
    message = trigger_error({"url": "https://h.example.com", "headers": {"X-A": "a\x00b"}})

    assert (
        message == "thoth.yaml: packages.a.triggers[0].headers.X-A: a header value must not contain a control character"
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_in_a_payload_are_errors(value: float) -> None:
    message = trigger_error({"url": "https://h.example.com", "payload": {"a": [1, value]}})

    assert message.startswith("thoth.yaml: packages.a.triggers[0].payload.a[1]: expected a JSON number, got ")


def test_a_package_name_longer_than_256_characters_is_an_error_on_one_short_line() -> None:
    name = "a" * 4000

    with pytest.raises(ConfigError) as caught:
        parse_config({"packages": {name: {}}}, SOURCE, {})
    message = str(caught.value)

    assert message.startswith('thoth.yaml: packages."aaaa')
    assert message.endswith('...": invalid package name: longer than 256 characters (4000)')
    assert len(message) < 200
    assert parse_config({"packages": {"a" * 256: {}}}, SOURCE, {}).packages[0].name == "a" * 256
