"""Real local HTTP servers for end-to-end tests, fault tests and the benchmark.

Four servers, all bound to 127.0.0.1 and served from a daemon thread by a threaded HTTP/1.1 server with
keep-alive (:mod:`.handler`, :mod:`.base`):

* :class:`IndexServer` (:mod:`.index`) - a synthetic Python package index (PEP 503 HTML, PEP 691 JSON) with
  serials, ETags, conditional requests and per-project fault injection (pages: :mod:`.pages`,
  negotiation: :mod:`.negotiation`);
* :class:`FeedServer` (:mod:`.feeds`) - static documents (PyPI-style RSS built by :func:`rss_updates` and
  :func:`rss_packages`);
* :class:`WebhookReceiver` (:mod:`.webhook`) - records deliveries and answers with scripted statuses;
* :class:`PushGatewayStandIn` (:mod:`.pushgateway`) - records Prometheus push-gateway pushes.

Every server records the requests it receives (``.requests``), counts response statuses and bytes sent,
can be stopped and started again on the same port (to simulate an outage), and is a context manager.
``hold(...)`` returns a :class:`Gate` (:mod:`.gates`) that keeps matching requests waiting until the test
releases it: tests synchronize with the job through gates, never by making a server slow. Nothing here
talks to any host but 127.0.0.1. ``python -m tests.support.servers`` runs one as a process
(:mod:`.standalone`).
"""

from tests.support.servers.feeds import FeedServer, rss_packages, rss_updates
from tests.support.servers.gates import Gate
from tests.support.servers.index import MALFORMED_KINDS, IndexServer
from tests.support.servers.negotiation import HTML_CONTENT_TYPE, JSON_CONTENT_TYPE, TEXT_HTML, negotiate
from tests.support.servers.pages import normalize, synthetic_projects
from tests.support.servers.pushgateway import Push, PushGatewayStandIn
from tests.support.servers.recording import ANY, LISTING, Fault, Headers, RecordedRequest
from tests.support.servers.standalone import main
from tests.support.servers.webhook import WebhookReceiver

__all__ = [
    "ANY",
    "HTML_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "LISTING",
    "MALFORMED_KINDS",
    "TEXT_HTML",
    "Fault",
    "FeedServer",
    "Gate",
    "Headers",
    "IndexServer",
    "Push",
    "PushGatewayStandIn",
    "RecordedRequest",
    "WebhookReceiver",
    "main",
    "negotiate",
    "normalize",
    "rss_packages",
    "rss_updates",
    "synthetic_projects",
]
