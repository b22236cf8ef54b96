"""Tests of the restricted str.format templates used by triggers."""

from __future__ import annotations

import pytest

from thoth.package_releases.template import (
    RELEASE_FIELDS,
    JsonValue,
    TemplateError,
    check_template,
    placeholders,
    release_values,
    render,
    render_json,
)

VALUES = {"package_name": "tensorflow", "package_version": "2.1.0", "index_url": "https://pypi.org/simple"}


def test_release_fields() -> None:
    assert frozenset({"event", "package_name", "package_version", "index_url"}) == RELEASE_FIELDS


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("", frozenset()),
        ("https://example.com/hook", frozenset()),
        ("{API}/tensorflow/release/{package_version}", frozenset({"API", "package_version"})),
        ("{a}{a}{_b1}", frozenset({"a", "_b1"})),
        ("{{literal}} {x}", frozenset({"x"})),
        ("{{{x}}}", frozenset({"x"})),
    ],
)
def test_placeholders(template: str, expected: frozenset[str]) -> None:
    assert placeholders(template) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{a.__class__}", "only plain names"),
        ("{a.b}", "only plain names"),
        ("{a[0]}", "only plain names"),
        ("{}", "only plain names"),
        ("{0}", "only plain names"),
        ("{1x}", "only plain names"),
        ("{ a }", "only plain names"),
        ("{a-b}", "only plain names"),
        ("{a!r}", "no conversion or format spec"),
        ("{a!s}", "no conversion or format spec"),
        ("{a:>10}", "no conversion or format spec"),
        ("{a:{b}}", "no conversion or format spec"),
        ("{a", "expected '}' before end of string"),
        ("a}", "Single '}'"),
        ("{a!}", "invalid template"),
    ],
)
def test_forbidden_syntax(template: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        placeholders(template)
    assert reason in str(caught.value)
    assert repr(template) in str(caught.value)
    with pytest.raises(TemplateError):
        render(template, {"a": "x", "b": "y"})
    with pytest.raises(TemplateError):
        check_template(template, {"a": "x", "b": "y"})


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


def test_check_template_accepts_release_fields_and_set_variables() -> None:
    # Accepted: no TemplateError is raised.
    check_template("{package_name} {package_version} {index_url} {API}", {"API": "http://x"})
    check_template("no placeholders", {})


def test_check_template_names_unknown_placeholders() -> None:
    with pytest.raises(TemplateError) as caught:
        check_template("{API}/{package_version}/{TOKEN}", {"API": "x"})
    message = str(caught.value)
    assert "unknown placeholder {TOKEN}" in message
    assert "{API}" not in message.split(" in ")[0]
    assert "index_url, package_name, package_version" in message


def test_check_template_lists_every_unknown_placeholder() -> None:
    with pytest.raises(TemplateError, match=r"\{A\}, \{B\}"):
        check_template("{B}{A}", {})


def test_render_substitutes_and_unescapes() -> None:
    template = "{API}/{package_name}/release/{package_version}?index={index_url}&x={{y}}"
    values = {**VALUES, "API": "https://api.example.com"}
    assert render(template, values) == (
        "https://api.example.com/tensorflow/release/2.1.0?index=https://pypi.org/simple&x={y}"
    )


def test_render_does_not_expand_substituted_values() -> None:
    assert render("{a}", {"a": "{b}", "b": "secret"}) == "{b}"


def test_render_missing_value() -> None:
    with pytest.raises(TemplateError, match=r"no value for placeholder \{API\}"):
        render("{API}/x", VALUES)


def test_render_does_not_reach_attributes() -> None:
    class Secretive(dict[str, str]):
        secret = "leaked"

    with pytest.raises(TemplateError):
        render("{self.secret}", Secretive(self="x"))


def test_release_values_override_environment() -> None:
    environ = {"package_version": "from-env", "API": "https://api.example.com"}
    values = release_values(
        environ, event="new_release", package_name="click", package_version="8.0.0", index_url="https://pypi.org/simple"
    )
    assert values == {
        "API": "https://api.example.com",
        "event": "new_release",
        "package_name": "click",
        "package_version": "8.0.0",
        "index_url": "https://pypi.org/simple",
    }
    assert environ["package_version"] == "from-env"


def test_render_json() -> None:
    payload: dict[str, JsonValue] = {
        "name": "{package_name}",
        "{package_name}_version": "{package_version}",
        "nested": [{"index": "{index_url}"}, 1, 2.5, True, None, "{{braces}}"],
    }
    assert render_json(payload, VALUES) == {
        "name": "tensorflow",
        "tensorflow_version": "2.1.0",
        "nested": [{"index": "https://pypi.org/simple"}, 1, 2.5, True, None, "{braces}"],
    }
    assert payload["name"] == "{package_name}"


@pytest.mark.parametrize("value", ["{package_version}", None, 3, 1.5, False, [], {}])
def test_render_json_scalars(value: object) -> None:
    expected = "2.1.0" if value == "{package_version}" else value
    assert render_json(value, VALUES) == expected  # type: ignore[arg-type]


def test_render_json_errors() -> None:
    with pytest.raises(TemplateError, match="no value for placeholder"):
        render_json({"a": ["{MISSING}"]}, VALUES)
    with pytest.raises(TemplateError, match="forbidden placeholder"):
        render_json({"{a.b}": 1}, VALUES)


def test_render_json_rejects_colliding_keys_without_showing_values() -> None:
    with pytest.raises(TemplateError) as caught:
        render_json({"{TOKEN}": 1, "secret": 2}, {"TOKEN": "secret"})
    assert "'{TOKEN}' and 'secret' render to the same key" in str(caught.value)
