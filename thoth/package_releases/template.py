"""Templates for trigger URLs, headers and payloads: ``str.format`` syntax restricted to plain placeholders.

A template may only name a release field (``{event}``, ``{package_name}``, ``{package_version}``, ``{index_url}``) or an
environment variable (``{TENSORFLOW_RELEASE_API}``); ``{{`` and ``}}`` stand for literal braces. Attribute and
index access, conversions, format specs and positional fields are rejected, so expanding a template can never
reach anything but the string values it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from string import Formatter
from typing import TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"

# The fields of a release event a template may name (``{event}`` is the event's kind).
RELEASE_FIELDS = frozenset({"event", "package_name", "package_version", "index_url"})

# POSIX environment variable names; also excludes digits-only (positional) fields and any '.', '[', ' '.
_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMATTER = Formatter()


def is_placeholder_name(name: str) -> bool:
    """Tell whether a name can stand in a template's placeholder (a POSIX environment variable name)."""
    return _PLACEHOLDER.fullmatch(name) is not None


class TemplateError(ValueError):
    """A template uses forbidden syntax, or names a placeholder that has no value."""


def _parse(template: str) -> Iterator[tuple[str, str | None]]:
    """Yield (literal text, placeholder name or None) pairs, rejecting everything but plain placeholders."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as error:
        raise TemplateError(f"invalid template {template!r}: {error} (literal braces: {{{{ }}}})") from None
    for literal, field, format_spec, conversion in parsed:
        if field is None:
            yield literal, None
            continue
        if conversion is not None or format_spec:
            suffix = (f"!{conversion}" if conversion else "") + (f":{format_spec}" if format_spec else "")
            raise TemplateError(
                f"forbidden placeholder {{{field}{suffix}}} in {template!r}: no conversion or format spec allowed"
            )
        if not is_placeholder_name(field):
            raise TemplateError(
                f"forbidden placeholder {{{field}}} in {template!r}: only plain names like {{package_version}}"
            )
        yield literal, field


def placeholders(template: str) -> frozenset[str]:
    """Return the names of the placeholders a template uses; raise TemplateError when its syntax is not allowed."""
    return frozenset(field for _, field in _parse(template) if field is not None)


def check_template(template: str, environ: Mapping[str, str]) -> None:
    """Raise TemplateError unless every placeholder of the template is a release field or a variable set in environ."""
    unknown = sorted(placeholders(template) - RELEASE_FIELDS - environ.keys())
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        fields = ", ".join(sorted(RELEASE_FIELDS))
        raise TemplateError(
            f"unknown placeholder {names} in {template!r}: neither a release field ({fields}) "
            "nor a set environment variable"
        )


def release_values(
    environ: Mapping[str, str], *, event: str, package_name: str, package_version: str | None, index_url: str
) -> dict[str, str]:
    """Return the values templates are rendered with: the environment, overridden by the release event's fields.

    ``{package_version}`` is empty for an event without a version (``missing_package``).
    """
    values = dict(environ)
    values.update(event=event, package_name=package_name, package_version=package_version or "", index_url=index_url)
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    """Return the template with every placeholder replaced by its value; raise TemplateError when one is missing."""
    parts: list[str] = []
    for literal, field in _parse(template):
        parts.append(literal)
        if field is not None:
            try:
                parts.append(values[field])
            except KeyError:
                raise TemplateError(f"no value for placeholder {{{field}}} in {template!r}") from None
    return "".join(parts)


def render_json(value: JsonValue, values: Mapping[str, str]) -> JsonValue:
    """Return a copy of a JSON-like value with every string in it, mapping keys included, rendered."""
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, list):
        return [render_json(item, values) for item in value]
    if isinstance(value, dict):
        rendered: dict[str, JsonValue] = {}
        sources: dict[str, str] = {}
        for key, item in value.items():
            new_key = render(key, values)
            if new_key in rendered:
                # Name the templates, not the rendered key: it may contain an environment secret.
                raise TemplateError(f"mapping keys {sources[new_key]!r} and {key!r} render to the same key")
            sources[new_key] = key
            rendered[new_key] = render_json(item, values)
        return rendered
    return value
