"""What every server has: lifecycle, request log, status and byte counters, fault queues and gates."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from types import TracebackType
from typing import Self

from tests.support.servers.faults import early_fault
from tests.support.servers.gates import Gate
from tests.support.servers.handler import Handler, LocalHTTPServer
from tests.support.servers.recording import ANY, CONTROL_PREFIX, HOST, Fault, Headers, RecordedRequest


class BaseServer:
    """A server on 127.0.0.1 served from a daemon thread; subclasses answer requests in :meth:`_handle`.

    Every server records the requests it receives (``.requests``), counts response statuses and bytes sent,
    can be stopped and started again on the same port (to simulate an outage), and is a context manager.
    """

    def __init__(self, port: int = 0, *, record: bool = True) -> None:
        self._port = port
        self._record = record
        self._httpd: LocalHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lifecycle = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._requests_changed = threading.Condition()
        self._stats_lock = threading.Lock()
        self._status_counts: Counter[int] = Counter()
        self._bytes_sent = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._faults_lock = threading.Lock()
        self._gates: list[Gate] = []
        self._gates_lock = threading.Lock()
        self.errors: list[str] = []
        """Unexpected handler exceptions (``repr``), for tests to assert on."""

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (on the same port as before after a :meth:`stop`); return ``self``."""
        with self._lifecycle:
            if self._httpd is not None:
                return self
            httpd = self._bind()
            self._port = httpd.server_address[1]
            thread = threading.Thread(
                target=httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{type(self).__name__}:{self._port}",
                daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
            return self

    def _bind(self) -> LocalHTTPServer:
        deadline = time.monotonic() + 5.0
        while True:
            try:
                return LocalHTTPServer(self._port, self)
            except OSError as error:  # the port of a restarted server may take a moment to free
                if self._port == 0 or time.monotonic() > deadline:
                    raise RuntimeError(f"cannot bind {HOST}:{self._port}: {error}") from error
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection, end pending waits and holds."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.stopping.set()
        with self._gates_lock:
            gates = list(self._gates)
        for gate in gates:
            gate.wake()
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if thread is not None:
            thread.join(5.0)

    def down(self) -> None:
        """Simulate an outage: :meth:`stop` (connections are refused until :meth:`up`)."""
        self.stop()

    def up(self) -> Self:
        """End an outage: :meth:`start` again on the same port."""
        return self.start()

    @property
    def running(self) -> bool:
        """Whether the server is accepting connections."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The TCP port (stays the same across stop/start)."""
        if self._port == 0:
            raise RuntimeError("the server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- request log ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._requests_changed:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._requests_changed:
            self._requests.clear()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until at least ``count`` recorded requests have been answered (or dropped).

        ``timeout`` bounds a hang only: a request that was answered is recorded within moments, however busy the
        machine; a short timeout is for a count that must never be reached.
        """
        with self._requests_changed:
            return self._requests_changed.wait_for(
                lambda: sum(1 for r in self._requests if r.status is not None) >= count, timeout
            )

    # -- counters ---------------------------------------------------------------------------------

    def status_counts(self) -> dict[int, int]:
        """Responses sent per status (``0``: connections dropped without a response)."""
        with self._stats_lock:
            return dict(self._status_counts)

    @property
    def bytes_sent(self) -> int:
        """Bytes written to clients (heads and bodies)."""
        with self._stats_lock:
            return self._bytes_sent

    def reset_stats(self) -> None:
        """Zero the status and byte counters."""
        with self._stats_lock:
            self._status_counts.clear()
            self._bytes_sent = 0

    def count_status(self, status: int) -> None:
        """Count a response sent with this status (``0``: a connection dropped without one)."""
        with self._stats_lock:
            self._status_counts[status] += 1

    def count_bytes(self, count: int) -> None:
        """Count bytes written to a client."""
        with self._stats_lock:
            self._bytes_sent += count

    # -- faults -----------------------------------------------------------------------------------

    def _fault_key(self, target: str) -> str:
        """The key a target is queued and held under (how the server names what a request asks for)."""
        return target

    def _add_fault(self, target: str, fault: Fault) -> None:
        if fault.times is not None and fault.times <= 0:
            return
        with self._faults_lock:
            self._faults.setdefault(self._fault_key(target), deque()).append(fault)

    def _take_fault(self, key: str) -> Fault | None:
        if not self._faults:
            return None
        with self._faults_lock:
            for candidate in (key, ANY):
                queue = self._faults.get(candidate)
                if queue:
                    fault = queue[0]
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            queue.popleft()
                    return fault
        return None

    def pending_faults(self, target: str) -> list[Fault]:
        """The faults still queued for a target, next first."""
        with self._faults_lock:
            return list(self._faults.get(self._fault_key(target), ()))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._faults_lock:
            self._faults.clear()

    # -- gates ------------------------------------------------------------------------------------

    def hold(self, *targets: str) -> Gate:
        """Hold the responses to requests for these targets (none given: every request) until the gate is released.

        Use it as ``with server.hold("target") as gate: ...; gate.wait_held(1); ...`` (leaving the block
        releases the gate) or call :meth:`Gate.release`.
        """
        gate = Gate(frozenset(self._fault_key(target) for target in targets) or frozenset({ANY}))
        with self._gates_lock:
            self._gates.append(gate)
        return gate

    def _admit(self, handler: Handler, key: str) -> tuple[bool, Fault | None]:
        """Hold a request for ``key`` at the gates, then take its next fault: (whether to answer it, the fault).

        Not to be answered: dropped at a gate (dropped, or the server stopped) or answered by a fault that
        replaces the response (fail, reset, a hang cut by a stop).
        """
        if self._gates:
            with self._gates_lock:
                gates = [gate for gate in self._gates if gate.matches(key)]
            for gate in gates:
                if not gate.hold(handler.server.stopping):
                    handler.abort()
                    return False, None
        fault = self._take_fault(key)
        return not early_fault(handler, fault), fault

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, handler: Handler) -> None:
        """Read and record one request, hand it to :meth:`_handle`; a request left unanswered is dropped."""
        handler.counted = not handler.path.startswith(CONTROL_PREFIX)
        try:
            body = handler.read_body()
        except ValueError:
            handler.record = RecordedRequest(handler.command, handler.path, Headers(handler.headers.items()), b"")
            handler.close_connection = True
            handler.reply(400, b"bad request body\n")
            return
        record = RecordedRequest(handler.command, handler.path, Headers(handler.headers.items()), body)
        handler.record = record
        keep = self._record and handler.counted
        if keep:
            with self._requests_changed:
                self._requests.append(record)
        try:
            self._handle(handler)
        finally:
            if record.status is None:
                record.status = 0
                if handler.counted:
                    self.count_status(0)
                handler.close_connection = True
            if keep:
                with self._requests_changed:
                    self._requests_changed.notify_all()

    def _handle(self, handler: Handler) -> None:
        raise NotImplementedError


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
