"""Unit tests of the checks and cleaning of values from outside (issue 10): pure, no I/O."""

from __future__ import annotations

import time

import pytest

from thoth.package_releases.clean import (
    MAX_NAME_LENGTH,
    MAX_SERIAL,
    MAX_TEXT,
    MAX_VALIDATOR_LENGTH,
    MAX_VERSION_LENGTH,
    clean_serial,
    clean_text,
    clean_validator,
    has_unsafe_characters,
    is_valid_name,
    shown,
    version_too_long,
)


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("HTTP 500 Bad\x00Thing", "HTTP 500 Bad\\x00Thing"),
        ("a\x1bb\x7fc\x85d", "a\\x1bb\\x7fc\\x85d"),
        ("two\nlines\tand\r\x0b\x0cblanks", "two lines and   blanks"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
        ("plain text, é and 😀 kept", "plain text, é and 😀 kept"),
    ],
)
def test_clean_text_escapes_control_characters_and_surrogates(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned
    assert not has_unsafe_characters(cleaned)
    cleaned.encode("utf-8")  # PostgreSQL's encoding takes it


def test_clean_text_bounds_the_length_of_what_it_returns() -> None:
    assert clean_text("x" * 60_000) == "x" * (MAX_TEXT - 3) + "..."
    assert len(clean_text("\x00" * 60_000)) == MAX_TEXT  # escaping lengthens: the bound holds after it
    assert clean_text("x" * 50, limit=10) == "x" * 7 + "..."
    assert clean_text("x" * 10, limit=10) == "x" * 10


def test_clean_text_without_a_limit_keeps_the_whole_text() -> None:
    assert clean_text("a\x00" * 2000, limit=None) == "a\\x00" * 2000


def test_clean_text_of_a_huge_text_costs_no_time() -> None:
    started = time.monotonic()
    clean_text("\x00" * 50_000_000)
    assert time.monotonic() - started < 1.0


def test_clean_text_refuses_a_limit_too_small_for_the_ellipsis() -> None:
    with pytest.raises(ValueError, match="limit"):
        clean_text("text", limit=3)


def test_shown_quotes_escapes_and_cuts() -> None:
    assert shown("be\x00ta") == "'be\\\\x00ta'"
    assert len(shown("y" * 4000)) <= 100 + 2


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ('"abc"', '"abc"'),
        ('W/"abc"', 'W/"abc"'),
        ("Mon, 01 Dec 2025 10:00:00 GMT", "Mon, 01 Dec 2025 10:00:00 GMT"),
        (None, None),
        ('"ab\x00cd"', None),
        ('"ab\ncd"', None),
        ('"' + "a" * MAX_VALIDATOR_LENGTH + '"', None),
    ],
)
def test_clean_validator_drops_unsafe_or_overlong_validators(value: str | None, kept: str | None) -> None:
    assert clean_validator(value) == kept


@pytest.mark.parametrize(
    ("value", "kept"),
    [(0, 0), (123, 123), (MAX_SERIAL, MAX_SERIAL), (MAX_SERIAL + 1, None), (10**30, None), (-1, None), (None, None)],
)
def test_clean_serial_keeps_only_what_fits_a_bigint(value: int | None, kept: int | None) -> None:
    assert clean_serial(value) == kept


@pytest.mark.parametrize("name", ["a", "Django", "zope.interface", "foo_bar-baz", "x" * MAX_NAME_LENGTH])
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "be\x00ta",
        "'; drop table x",
        "-/-/-/etc/passwd",
        "<script>",
        "foo?x=1#frag",
        "%2e%2e",
        "..",
        "a b",
        "é",
        "-leading",
        "trailing.",
        "x" * (MAX_NAME_LENGTH + 1),
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)


def test_version_length_bound() -> None:
    assert not version_too_long("1.0+" + "a" * (MAX_VERSION_LENGTH - 4))
    assert version_too_long("1.0+" + "a" * (MAX_VERSION_LENGTH - 3))
