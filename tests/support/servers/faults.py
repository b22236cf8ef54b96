"""Applying an injected fault to a response: replacing it, or truncating or trickling its body."""

from __future__ import annotations

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
