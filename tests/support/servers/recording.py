"""What the servers record and queue: request headers, received requests, injected faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"

ANY = "*"
"""Fault and gate target matching every request a server serves (after any target-specific fault)."""
LISTING = "/"
"""Fault and gate target of the index's project listing (``/simple/``)."""
CONTROL_PREFIX = "/_control/"


class Headers(dict[str, str]):
    """Request headers as a plain dict keyed by lower-case name; item lookups ignore case.

    Repeated headers are joined with ``", "``.
    """

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            dict.__setitem__(self, key, f"{dict.__getitem__(self, key)}, {value}" if key in self else value)

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of a header (any case) or ``default``."""
        return dict.get(self, key.lower(), default)


@dataclass
class RecordedRequest:
    """One request a server received.

    ``status`` is ``None`` while the request is being handled, the status of the response once its
    head has been sent, and ``0`` when the connection was dropped without a response. ``received`` is
    when its body had been read (``time.monotonic()``).
    """

    method: str
    path: str
    headers: Headers
    body: bytes
    status: int | None = None
    received: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Fault:
    """A fault to inject into the next ``times`` responses of a target (``None``: until cleared)."""

    kind: str
    times: int | None = 1
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    bytes_per_write: int = 1
    malformed: str = ""
    size: int = 0
    chunked: bool = False
    serial: int = 0
    keep_versions: bool = False
