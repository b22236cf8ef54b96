"""A server as a process of its own: ``python -m tests.support.servers index|webhook|pushgateway``.

The index prints its base URL (``http://127.0.0.1:PORT/simple``) as the first line of stdout, serves until
SIGTERM/SIGINT, and answers ``POST /_control/publish``, ``GET /_control/stats`` and
``POST /_control/reset-stats``, and the release mutations (``POST /_control/yank``, ``unyank``, ``add-file``,
``change-sha256``, ``remove-version``, ``restore-version``, ``remove-project``, ``restore-project``, each with a
JSON body naming ``project`` and, as needed, ``version``, ``reason``, ``filename``, ``sha256``: see
:mod:`.mutations`); the benchmark runs it as::

    python -m tests.support.servers index --projects 10000 --versions 30 --latency-ms 0 --port 0

and at PyPI's size (pages rendered when asked for, at most 20,000 kept; 304s and the listing's ETag need no
rendering; the JSON listing is served gzip-encoded to clients that accept it)::

    python -m tests.support.servers index --projects 600000 --versions 2 --page-cache 20000
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from tests.support.servers.base import BaseServer
from tests.support.servers.index import IndexServer
from tests.support.servers.negotiation import JSON_CONTENT_TYPE, TEXT_HTML
from tests.support.servers.pages import synthetic_projects
from tests.support.servers.pushgateway import PushGatewayStandIn
from tests.support.servers.webhook import WebhookReceiver


def _serve_until_signalled(server: BaseServer, first_line: Callable[[], str]) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, on_signal)
    with server:
        print(first_line(), flush=True)
        while not stop.wait(0.5):
            pass
    for number, old in previous.items():
        signal.signal(number, old if old is not None else signal.SIG_DFL)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server as a process: ``index`` (for the benchmark), ``webhook``, ``pushgateway``."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.servers", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    index = commands.add_parser("index", help="a synthetic index with /_control/ endpoints")
    index.add_argument("--projects", type=int, default=1000, help="number of projects pkg-00001...")
    index.add_argument("--versions", type=int, default=30, help="versions per project (1.0.0, 1.0.1, ...)")
    index.add_argument("--latency-ms", type=float, default=0.0, help="sleep before every response")
    index.add_argument("--port", type=int, default=0)
    index.add_argument("--formats", default="json,html", help="comma-separated subset of json,html")
    index.add_argument("--no-listing-serials", action="store_true", help="omit _last-serial in the JSON listing")
    index.add_argument("--record", action="store_true", help="keep a log of requests (memory grows)")
    index.add_argument("--warm", action="store_true", help="render every page before printing the URL")
    index.add_argument(
        "--page-cache",
        type=int,
        default=None,
        help="keep at most this many rendered pages (default: all); 304s never render a page",
    )
    for name in ("webhook", "pushgateway"):
        commands.add_parser(name).add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "index":
        server = IndexServer(
            synthetic_projects(args.projects, args.versions),
            formats=[f for f in args.formats.split(",") if f],
            latency=args.latency_ms / 1000,
            port=args.port,
            listing_serials=not args.no_listing_serials,
            record=args.record,
            control=True,
            page_cache=args.page_cache,
        )
        if args.warm:
            server.warm([JSON_CONTENT_TYPE if f == "json" else TEXT_HTML for f in server.formats])
        return _serve_until_signalled(server, lambda: server.base_url)
    other: BaseServer = WebhookReceiver(args.port) if args.command == "webhook" else PushGatewayStandIn(args.port)
    return _serve_until_signalled(other, lambda: other.url)
