"""Applying injected faults to a response, and the fault methods shared by servers keyed by target."""

from __future__ import annotations

from tests.support.servers.base import BaseServer
from tests.support.servers.handler import Handler
from tests.support.servers.recording import Fault


def early_fault(handler: Handler, fault: Fault | None) -> bool:
    """Apply a fault that replaces the response; return True when the request is done."""
    if fault is None:
        return False
    if fault.kind == "fail":
        headers = [("Retry-After", fault.retry_after)] if fault.retry_after is not None else []
        handler.reply(fault.status, f"injected failure {fault.status}\n".encode(), headers)
        return True
    if fault.kind == "reset":
        handler.abort()
        return True
    if fault.kind == "hang" and handler.wait(fault.seconds):
        handler.abort()
        return True
    return False


def send_with_fault(handler: Handler, status: int, headers: bytes, body: bytes, fault: Fault | None) -> None:
    """Send a complete response, truncated or trickled when the fault says so."""
    kind = fault.kind if fault is not None else ""
    if handler.command == "HEAD" or fault is None or kind not in ("truncate", "trickle"):
        handler.send_raw(status, headers, body)
        return
    handler.send_raw(status, headers, connection_header=False)
    if kind == "truncate":
        handler.write(body[: len(body) // 2])
        handler.close_connection = True
        return
    step = max(1, fault.bytes_per_write)
    for offset in range(0, len(body), step):
        if handler.wait(fault.seconds * step):
            handler.close_connection = True
            return
        handler.write(body[offset : offset + step])


class TargetFaults(BaseServer):
    """A server whose faults are queued per target: a project name or path, or :data:`ANY`."""

    def fail(self, target: str, status: int = 503, times: int | None = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests for the target with ``status`` (and ``Retry-After``)."""
        self._add_fault(target, Fault("fail", times, status=status, retry_after=retry_after))

    def reset(self, target: str, times: int | None = 1) -> None:
        """Close the connection with a TCP RST, without any response, on the next ``times`` requests."""
        self._add_fault(target, Fault("reset", times))

    def hang(self, target: str, seconds: float, times: int | None = 1) -> None:
        """Wait ``seconds`` before responding (normally) to the next ``times`` requests."""
        self._add_fault(target, Fault("hang", times, seconds=seconds))

    def trickle(
        self, target: str, seconds_per_byte: float = 0.05, times: int | None = 1, bytes_per_write: int = 1
    ) -> None:
        """Send the head at once, then the body ``bytes_per_write`` bytes at a time, ``seconds_per_byte`` apart."""
        self._add_fault(target, Fault("trickle", times, seconds=seconds_per_byte, bytes_per_write=bytes_per_write))

    def truncate(self, target: str, times: int | None = 1) -> None:
        """Announce the full Content-Length, send half of the body, close the connection."""
        self._add_fault(target, Fault("truncate", times))
