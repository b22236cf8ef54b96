"""Counting a test's HTTP traffic as a client sees it, below the client (statuses, requests, bytes received)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests
import requests.adapters


class Traffic:
    """The requests sent through any requests adapter since :meth:`install`: statuses ('error' for none), bytes."""

    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self._responses: list[requests.Response] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Traffic:
        """Start counting (wrapping the adapters' send, which `responses` may have replaced); return self."""
        original = requests.adapters.HTTPAdapter.send

        def send(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            try:
                response = original(adapter, request, **kwargs)
            except Exception:
                self.by_status["error"] += 1
                raise
            self.by_status[str(response.status_code)] += 1
            self._responses.append(response)
            return response

        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
        return self

    @property
    def requests(self) -> int:
        """Return how many requests were sent (answered or not)."""
        return sum(self.by_status.values())

    @property
    def bytes_received(self) -> int:
        """Return how many body bytes the client read off the wire (before decoding)."""
        return sum(response.raw.tell() for response in self._responses)
