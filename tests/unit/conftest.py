"""Unit-test guard: a test must not leave a non-daemon thread it started running into the next test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

# How long a thread a test started may take to end after the test (an executor shut down without waiting).
THREAD_GRACE_SECONDS = 2.0


def _join_all(threads: list[threading.Thread], seconds: float) -> list[threading.Thread]:
    """Join ``threads`` within ``seconds`` in all; return those still alive."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return [thread for thread in threads if thread.is_alive()]


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """Fail a test that leaves a non-daemon thread it started alive (a pending timer at once, others after a grace).

    A thread left running logs into, or acts on, whatever test runs next; the leftovers are cancelled (timers)
    and joined here before failing, so that the next test starts clean either way.
    """
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and not t.daemon and t.is_alive()]
    if not left:
        return
    timers = [t for t in left if isinstance(t, threading.Timer)]
    for timer in timers:
        timer.cancel()  # a timer not fired yet must not fire in the next test
    stuck = [t.name for t in _join_all(left, THREAD_GRACE_SECONDS)]
    if timers or stuck:
        pytest.fail(
            f"threads left running after the test: timers not joined {[t.name for t in timers]}, "
            f"still alive {THREAD_GRACE_SECONDS} s later {stuck}",
            pytrace=False,
        )
