"""Reading of a streamed response's body under its bounds: a size, a time limit, a memory budget.

A body is read piece by piece as the socket gives it, decompressed (gzip, deflate) by urllib3. :func:`iter_body`
yields the pieces to a consumer that parses as they come (the project listing); :func:`read_body` joins them.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import requests
import urllib3.exceptions

from thoth.package_releases.redact import describe
from thoth.package_releases.sources.limits import Allowance, BudgetExceeded

CHUNK_SIZE: Final = 64 * 1024


class BodyProblem(enum.Enum):
    """Why a body could not be read."""

    TOO_LARGE = "too large"
    OVER_BUDGET = "over the memory budget"
    TOO_SLOW = "too slow"
    READ_TIMEOUT = "read timeout"
    TRUNCATED = "truncated body"


class BodyError(Exception):
    """A body that could not be read whole.

    ``detail`` describes the exception behind a read timeout or a truncation, or the size a too large body declared.
    """

    def __init__(self, problem: BodyProblem, detail: str = "") -> None:
        super().__init__(f"{problem.value}: {detail}" if detail else problem.value)
        self.problem = problem
        self.detail = detail


def iter_body(
    response: requests.Response,
    *,
    max_bytes: int,
    timeout: float,
    received: Callable[[int], None] | None = None,
    allowance: Allowance | None = None,
    hold: bool = True,
) -> Iterator[bytes]:
    """Yield a streamed response's decoded body in pieces, raising BodyError past ``max_bytes`` or ``timeout`` s.

    Decompressed bytes are taken from ``allowance``, if given: with ``hold``, they stay taken (the consumer keeps
    the pieces, until its allowance ends); without, each piece's bytes are given back once the consumer asks for
    the next one (it parses them as they come). Whatever was taken is given back when the read fails.
    ``received`` is told how many bytes came over the wire, however the read ended.
    """
    raw: Any = response.raw
    deadline = time.monotonic() + timeout
    size = taken = 0
    try:
        while True:
            # read1 returns what one socket read brings, so a server trickling bytes cannot keep a single call
            # busy past the deadline; a silent one is cut by the read timeout.
            try:
                chunk = raw.read1(CHUNK_SIZE, decode_content=True)
            except urllib3.exceptions.ReadTimeoutError as error:
                raise BodyError(BodyProblem.READ_TIMEOUT, describe(error)) from None
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise BodyError(BodyProblem.TRUNCATED, describe(error)) from None
            if not chunk:
                return
            size += len(chunk)
            if size > max_bytes:
                raise BodyError(BodyProblem.TOO_LARGE)
            if allowance is not None:
                _take(allowance, len(chunk))
                taken += len(chunk)
            if time.monotonic() > deadline:
                raise BodyError(BodyProblem.TOO_SLOW)
            yield chunk
            if allowance is not None and not hold:
                allowance.give_back(len(chunk))
                taken -= len(chunk)
    except BodyError:
        if allowance is not None:
            allowance.give_back(taken)
            taken = 0
        raise
    finally:
        if allowance is not None and not hold:
            allowance.give_back(taken)  # the consumer left before the end
        if received is not None:
            received(raw.tell())


def _take(allowance: Allowance, size: int) -> None:
    try:
        allowance.take(size)
    except BudgetExceeded as exceeded:
        if exceeded.alone:  # no wait can make it fit
            raise BodyError(BodyProblem.TOO_LARGE, f"over the memory budget of {exceeded.limit} bytes") from None
        raise BodyError(BodyProblem.OVER_BUDGET, f"{exceeded.limit} bytes") from None


def read_body(
    response: requests.Response,
    *,
    max_bytes: int,
    timeout: float,
    received: Callable[[int], None] | None = None,
    allowance: Allowance | None = None,
) -> bytes:
    """Return a streamed response's decoded body, raising BodyError past ``max_bytes`` or ``timeout`` seconds.

    Decompressed bytes are taken from ``allowance``, if given (and given back when the read fails).
    ``received`` is told how many bytes came over the wire, however the read ended.
    """
    return b"".join(iter_body(response, max_bytes=max_bytes, timeout=timeout, received=received, allowance=allowance))
