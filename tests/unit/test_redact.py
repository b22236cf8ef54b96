"""redact: masking must be linear in the length of the text (issue 10) and keep masking what it masks."""

from __future__ import annotations

import time

import pytest

from thoth.package_releases.redact import MASK, dsn_secrets, mask_dsn, mask_text, one_line, scrub

LONG = 60_000


def test_mask_text_masks_a_url_password_in_free_text() -> None:
    text = "failed: GET https://reader:Pa55-w0rd@index.example/simple/ (HTTP 500)"

    assert mask_text(text) == f"failed: GET https://reader:{MASK}@index.example/simple/ (HTTP 500)"


def test_mask_text_leaves_text_without_credentials_alone() -> None:
    text = "HTTP 500 from https://index.example/simple/ after 4 attempts"

    assert mask_text(text) == text


def test_mask_text_on_60000_characters_takes_well_under_a_second() -> None:
    text = "x" * LONG  # letters could all start a URL scheme: each is tried against the rest of the text
    started = time.perf_counter()
    masked = mask_text(text)
    elapsed = time.perf_counter() - started

    assert masked == text
    assert elapsed < 0.5, f"{elapsed:.2f} s for {len(text)} characters"


def test_mask_text_still_masks_after_a_long_run_of_letters() -> None:
    text = "x" * 2_000 + " https://reader:Pa55-w0rd@index.example/"

    assert "Pa55-w0rd" not in mask_text(text)
    assert "Pa55-w0rd" not in one_line(text)


def test_mask_text_on_long_words_and_many_urls_masks_every_password() -> None:
    words = ("x" * 20_000 + " ") * 3
    urls = " ".join(f"https://user{n}:Secret{n}@host{n}.example/simple/" for n in range(2_000))

    masked = mask_text(words + urls)

    expected = " ".join(f"https://user{n}:{MASK}@host{n}.example/simple/" for n in range(2_000))
    assert masked == words + expected


def test_mask_text_masks_a_url_password_with_an_unencoded_at_sign_whole() -> None:
    assert (
        mask_text("to postgresql://thoth:Pw7x@Qz9k@db.example:5432/kg")
        == f"to postgresql://thoth:{MASK}@db.example:5432/kg"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host=db password=S3cr3tPW dbname=kg", f"host=db password={MASK} dbname=kg"),
        ("host=db PASSWORD = S3cr3tPW", f"host=db PASSWORD = {MASK}"),
        ("host=db password='S3 cr\\'3t' dbname=kg", f"host=db password={MASK} dbname=kg"),
        ("host=db password='unterminated S3cr3t", f"host=db password={MASK}"),
    ],
    ids=["plain", "spaces-and-case", "quoted", "unterminated-quote"],
)
def test_mask_text_masks_keyword_dsn_passwords(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("separator", ["/", "@", ":"])
def test_mask_dsn_masks_a_url_password_with_an_unencoded_separator_whole(separator: str) -> None:
    url = f"postgresql://thoth:Pw7xHead{separator}Qz9kTail@127.0.0.1:5432/kg"

    assert mask_dsn(url) == f"postgresql://thoth:{MASK}@127.0.0.1:5432/kg"
    assert {"Pw7xHead", "Qz9kTail"} <= set(dsn_secrets(url))


def test_mask_dsn_leaves_a_url_without_password_alone() -> None:
    assert mask_dsn("postgresql://thoth@db.example/kg") == "postgresql://thoth@db.example/kg"
    assert dsn_secrets("postgresql://thoth@db.example/kg") == []


def test_dsn_secrets_of_a_keyword_dsn() -> None:
    secrets = dsn_secrets("host=db password='Pw7x Head' dbname=kg")

    assert "Pw7x Head" in secrets
    assert scrub("invalid: Pw7x Head and Head alone", secrets) == f"invalid: {MASK} and {MASK} alone"


def test_one_line_masks_a_secret_with_a_trailing_newline_shown_as_in_a_repr() -> None:
    token = "Tok-5ecret-2f9"
    message = f"InvalidHeader: bad value {('Bearer ' + token + chr(10))!r}"

    shown = one_line(message, secrets=["Bearer " + token + "\n"])

    assert token not in shown
    assert shown == f"InvalidHeader: bad value '{MASK}'"
