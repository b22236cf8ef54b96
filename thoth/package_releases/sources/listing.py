"""Reading of an index's project listing (PEP 691 JSON, PEP 503 HTML) as its body arrives, in pieces: pure, no I/O.

PyPI's listing is some 600,000 projects, ~30 MB of JSON: it is never held whole. The JSON reader finds the
``projects`` array and decodes its entries one at a time from a sliding buffer; the HTML reader feeds a
streaming parser. Memory is that of the names and serials kept (listed.py), plus one piece and one entry.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

from thoth.package_releases.normalize import normalize_name
from thoth.package_releases.redact import one_line
from thoth.package_releases.sources.documents import (
    HTML_SERIAL,
    JSON_TYPE,
    Link,
    PageError,
    as_serial,
    check_content_type,
    check_meta,
    html_links,
)
from thoth.package_releases.sources.limits import Allowance
from thoth.package_releases.sources.listed import INVALID_EXAMPLES as INVALID_EXAMPLES
from thoth.package_releases.sources.listed import ListingBuilder

# The most projects one listing may name (a listing beyond it is a PageError): memory stays proportional to it.
MAX_LISTED_NAMES: Final = 5_000_000
# The longest JSON value held whole while the listing is read (one project entry, "meta", any other member).
MAX_JSON_VALUE: Final = 1024 * 1024
# The bytes of an HTML listing looked back at for its serial comment, across the pieces' edges.
_SERIAL_WINDOW: Final = 128
_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
# A failed decode is near the end of the buffer: more text may complete it.
_NEAR_END: Final = 16
_NO_META: Final = object()
# One project entry of the common shapes (no escapes in the name, the serial in plain digits), and the comma
# after it: "name" alone, "name" then "_last-serial", or the other way round. JSON's blanks are these four.
_B: Final = r"[ \t\n\r]*"
_N: Final = r'"(?P<{}>[^"\\\x00-\x1f]*)"'
_S: Final = r"(?P<{}>0|[1-9][0-9]{{0,18}})"
_PLAIN_ENTRY: Final = re.compile(
    rf'\{{{_B}(?:"name"{_B}:{_B}{_N.format("name")}(?:{_B},{_B}"_last-serial"{_B}:{_B}{_S.format("serial")})?'
    rf'|"_last-serial"{_B}:{_B}{_S.format("serial2")}{_B},{_B}"name"{_B}:{_B}{_N.format("name2")})'
    rf"{_B}\}}{_B}(?P<comma>,)?{_B}"
)


@dataclass(frozen=True)
class ProjectListing:
    """An index's root page: the normalized project names, their serials (JSON, when all have one), the serial.

    Names that are not PEP 508 project names (or are too long to be recorded) are skipped and counted.
    """

    names: Sequence[str]
    serials: Mapping[str, int] | None
    serial: int | None
    invalid_names: int = 0  # listed names that are no valid project names (skipped)
    invalid_examples: tuple[str, ...] = ()  # the first few of them, as a report shows them


def read_listing(
    pieces: Iterable[bytes],
    content_type: str,
    url: str | None = None,
    *,
    max_names: int = MAX_LISTED_NAMES,
    allowance: Allowance | None = None,
) -> ProjectListing:
    """Return what an index's root page lists, from its body in pieces and the response's Content-Type.

    Raises PageError (before reading any piece when the content type is none of the simple API's). Serials
    are given only when every JSON project entry with a valid name carries a ``_last-serial``. With the
    page's ``url``, an HTML page whose links are mostly not to project pages below it (a welcome page, say)
    is refused. More than ``max_names`` listed names is a PageError, and so are names and serials that would
    hold more bytes than ``allowance`` has left (if given: the memory budget of the listing).
    """
    kind, charset = check_content_type(content_type)
    if kind != JSON_TYPE:
        return _read_html(pieces, charset, url, ListingBuilder(max_names, serials=False, allowance=allowance))
    reader = JsonListingReader(ListingBuilder(max_names, serials=True, allowance=allowance))
    for piece in pieces:
        reader.feed(piece)
    return reader.close()


class JsonListingReader:
    """A PEP 691 listing read incrementally: ``feed`` it the body's pieces, then ``close`` it for the listing.

    The document is an object whose members come in any order: ``meta`` (checked as soon as it is read) and
    ``projects``, an array whose entries are decoded one at a time; other members are read and dropped. Any
    value held whole (an entry, ``meta``) is bounded by MAX_JSON_VALUE characters.
    """

    def __init__(self, builder: ListingBuilder, *, max_value: int = MAX_JSON_VALUE) -> None:
        """Read into ``builder``; a value longer than ``max_value`` characters is a PageError."""
        self._builder = builder
        self._max_value = max_value
        self._decoder = json.JSONDecoder()
        self._head = b""  # the first bytes, until the encoding is known
        self._bytes: codecs.IncrementalDecoder | None = None
        self._text = ""  # decoded, not yet parsed
        self._pending: list[str] = []  # decoded, not yet appended to the text
        self._pending_size = 0
        self._retry_at = 0  # the buffered size at which an incomplete value is decoded again
        self._state = "start"
        self._key = ""
        self._meta: object = _NO_META
        self._projects = False
        self._eof = False

    def feed(self, piece: bytes) -> None:
        """Read one more piece of the body; raise PageError as soon as it shows the document is no listing."""
        if self._bytes is None:
            self._head += piece
            if len(self._head) < 4:  # the encoding of a JSON text shows in its first four bytes
                return
            piece = self._start_decoding()
        text = self._decode(piece)
        self._pending.append(text)
        self._pending_size += len(text)
        if len(self._text) + self._pending_size >= self._retry_at:
            self._parse()

    def close(self) -> ProjectListing:
        """Return the listing read; raise PageError when the document is incomplete or no listing."""
        head = self._start_decoding() if self._bytes is None else b""
        self._pending.append(self._decode(head, final=True))
        self._eof = True
        self._parse()
        if self._state == "start":
            raise PageError("malformed JSON: an empty document")
        if self._state != "done":
            raise PageError("malformed JSON: the document ends early")
        check_meta(self._meta)
        if not self._projects:
            raise PageError('malformed JSON: "projects" is not a list')
        assert isinstance(self._meta, dict)
        names, serials = self._builder.build()
        builder = self._builder
        return ProjectListing(
            names, serials, as_serial(self._meta.get("_last-serial")), builder.invalid, tuple(builder.examples)
        )

    def _start_decoding(self) -> bytes:
        """Choose the decoder from the first bytes (UTF-8, or UTF-16 or -32 as json.loads does); return them."""
        head, self._head = self._head, b""
        self._bytes = codecs.getincrementaldecoder(json.detect_encoding(head))("surrogatepass")
        return head

    def _decode(self, piece: bytes, *, final: bool = False) -> str:
        assert self._bytes is not None
        try:
            return self._bytes.decode(piece, final)
        except UnicodeDecodeError as error:
            raise PageError(one_line(f"malformed JSON: {error.reason}")) from None

    def _parse(self) -> None:
        """Parse what is buffered as far as it goes, keeping the rest (an incomplete token or value)."""
        text = "".join([self._text, *self._pending])
        self._pending.clear()
        self._pending_size = 0
        pos = 0
        while True:
            pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
            if pos == len(text):
                break
            after = self._step(text, pos)
            if after is None:  # an incomplete value: wait until the buffer doubled
                self._retry_at = 2 * (len(text) - pos)
                break
            pos = after
        self._text = text[pos:]
        if pos == len(text):
            self._retry_at = 0

    def _step(self, text: str, pos: int) -> int | None:
        """Read the token or value at ``pos``; return the position after it, None when it is incomplete."""
        char, state = text[pos], self._state
        if state == "start":
            if char != "{":
                what = "the document is not an object" if char in '["-0123456789tfn' else "expecting an object"
                raise PageError(f"malformed JSON: {what}")
            self._state = "first key"
            return pos + 1
        if state in ("first key", "key"):
            if char == "}" and state == "first key":
                self._state = "done"
                return pos + 1
            if char != '"':
                raise PageError("malformed JSON: expecting a property name enclosed in double quotes")
            return self._value(text, pos, self._take_key)
        if state in ("colon", "after member", "after entry", "open array"):
            return self._punctuation(char, pos)
        if state in ("first entry", "entry"):
            if char == "]" and state == "first entry":
                self._state = "after member"
                return pos + 1
            return self._plain_entries(text, pos) or self._value(text, pos, self._take_entry)
        if state == "value":
            return self._value(text, pos, self._take_value)
        raise PageError("malformed JSON: extra data after the document")

    def _plain_entries(self, text: str, pos: int) -> int | None:
        """Read the run of plain entries at ``pos`` (the common shape); return the position after them, or None.

        A plain entry has a "name" without escapes and a "_last-serial" in decimal digits, or a "name" alone:
        read by one regular expression, it costs a fraction of a decode. Any other is left to the decoder.
        """
        add = self._builder.add
        end = None
        match = _PLAIN_ENTRY.match(text, pos)
        while match is not None:
            name, serial = match.group("name", "serial")
            if name is None:
                name, serial = match.group("name2", "serial2")
            add(name, None if serial is None else as_serial(int(serial)))
            end = match.end()
            if match.group("comma") is None:
                self._state = "after entry"
                break
            self._state = "entry"
            match = _PLAIN_ENTRY.match(text, end)
        return end

    def _punctuation(self, char: str, pos: int) -> int:
        expected = {
            "colon": {":": "open array" if self._key == "projects" else "value"},
            "open array": {"[": "first entry"},
            "after entry": {",": "entry", "]": "after member"},
            "after member": {",": "key", "}": "done"},
        }[self._state]
        following = expected.get(char)
        if following is None:
            if self._state == "open array":
                raise PageError('malformed JSON: "projects" is not a list')
            raise PageError(one_line(f"malformed JSON: expecting {' or '.join(map(repr, expected))}"))
        self._state = following
        return pos + 1

    def _value(self, text: str, pos: int, take: Callable[[object], None]) -> int | None:
        """Decode the JSON value at ``pos`` and give it to ``take``; None when the buffer holds only its start."""
        try:
            value, end = self._decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            incomplete = error.msg.startswith("Unterminated string") or len(text) - error.pos <= _NEAR_END
            if self._eof or not incomplete:
                raise PageError(one_line(f"malformed JSON: {error.msg}")) from None
            end = None
        except RecursionError:
            raise PageError("malformed JSON: values nested too deeply") from None
        if end is None or (end == len(text) and not self._eof):  # a number at the end may go on
            if len(text) - pos > self._max_value:
                raise PageError(f"malformed JSON: a value longer than {self._max_value} characters")
            return None
        take(value)
        return end

    def _take_key(self, key: object) -> None:
        self._key = str(key)
        if self._key == "projects" and self._projects:
            raise PageError('malformed JSON: "projects" given twice')
        self._projects = self._projects or self._key == "projects"
        self._state = "colon"

    def _take_value(self, value: object) -> None:
        if self._key == "meta":
            check_meta(value)  # an unsupported API version is refused before its projects are read
            self._meta = value
        self._state = "after member"

    def _take_entry(self, entry: object) -> None:
        raw_name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(raw_name, str):
            raise PageError('malformed JSON: a project without a "name"')
        assert isinstance(entry, dict)
        self._builder.add(raw_name, as_serial(entry.get("_last-serial")))
        self._state = "after entry"


def _read_html(
    pieces: Iterable[bytes], charset: str | None, url: str | None, builder: ListingBuilder
) -> ProjectListing:
    """Return the listing of a PEP 503 page given in pieces (see :func:`read_listing`)."""
    tap = _SerialTap()
    links = _ProjectLinks(url) if url is not None else None
    for link in html_links(tap.watch(pieces), charset, builder.max_names, "projects"):
        if links is not None and not links.keep(link):
            continue
        text = link[0]
        if text.strip("/ "):
            builder.add(text.strip().rstrip("/"))  # a directory listing's "name/" names a project too
    if links is not None:
        links.check()
    names, _ = builder.build()
    return ProjectListing(names, None, tap.serial, builder.invalid, tuple(builder.examples))


class _SerialTap:
    """Passes an HTML body's pieces on, noting the serial of its first ``<!--SERIAL n-->`` comment."""

    def __init__(self) -> None:
        self.serial: int | None = None
        self._found = False
        self._tail = b""

    def watch(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """Yield the pieces, looking for the serial comment in each (and across their edges)."""
        for piece in pieces:
            if not self._found:
                window = self._tail + piece
                match = HTML_SERIAL.search(window)
                if match is None:
                    self._tail = window[-_SERIAL_WINDOW:]
                else:
                    self._found = True
                    self.serial = as_serial(match.group(1).decode("ascii"))
            yield piece


class _ProjectLinks:
    """The links of an HTML listing, told apart: at least half of those kept must lead to project pages.

    A PEP 503 listing has one anchor per project, whose text is the name and whose target is the project's
    page below the listing (``name/``, ``/simple/name/``, ``name/index.html``). Links to the listing itself or
    above it (parent folder, sort orders) are navigation.
    """

    def __init__(self, url: str) -> None:
        self._base = url if url.endswith("/") else url + "/"
        self._listing = urlsplit(self._base)
        self.kept = 0
        self.projects = 0

    def keep(self, link: Link) -> bool:
        """Return whether a link is kept (it is no navigation), counting those to project pages."""
        text, href, _ = link
        try:
            target = urlsplit(urljoin(self._base, href))
        except ValueError:
            self.kept += 1
            return True
        listing = self._listing
        same_origin = (target.scheme, target.netloc) == (listing.scheme, listing.netloc)
        if same_origin and listing.path.startswith(target.path):
            return False  # the listing itself, a parent folder, or a query of the listing
        self.kept += 1
        segments = [segment for segment in target.path.split("/") if segment]
        if segments and segments[-1].lower() in ("index.html", "index.htm"):
            segments.pop()
        below = same_origin and target.path.startswith(listing.path)
        name = text.strip().rstrip("/")
        if below and segments and name and normalize_name(unquote(segments[-1])) == normalize_name(name):
            self.projects += 1
        return True

    def check(self) -> None:
        """Raise PageError unless at least half of the links kept lead to project pages."""
        if self.projects * 2 < self.kept:
            raise PageError(
                f"not a simple-API project listing: {self.projects} of {self.kept} links lead to project pages"
            )
