"""A remote configuration's download: bounded in time and size, stoppable, over https from its own origin only.

Whoever controls a configuration controls where the job sends what (webhooks, their headers): a configuration
read over plain http, or redirected to another origin, could be replaced by anyone on the network path. Both
are refused unless the operator explicitly allows them (``--allow-insecure-config``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from thoth.package_releases.sources.http import BodyError, BodyProblem, RequestFailed, get, new_session

ALLOW_OPTION = "--allow-insecure-config"


class FetchError(Exception):
    """The configuration could not be downloaded; ``str()`` says why in one line (no URL)."""


def fetch(
    url: str,
    environ: Mapping[str, str],
    timeout: float,
    max_bytes: int,
    *,
    should_stop: Callable[[], bool] | None = None,
    allow_insecure: bool = False,
) -> bytes:
    """Return the body of the configuration at an http(s) URL, read within ``timeout`` seconds in all.

    The download is cut short when ``should_stop()`` turns true. Plain http and redirects to another origin
    are refused unless ``allow_insecure``. Raises FetchError.
    """
    if urlsplit(url).scheme.lower() != "https" and not allow_insecure:
        raise FetchError(f"refusing to read the configuration over plain http (use https, or {ALLOW_OPTION})")
    try:
        with new_session(environ, any_origin=allow_insecure) as session:
            reply = get(session, url, timeout=timeout, max_bytes=max_bytes, should_stop=should_stop)
    except RequestFailed as failure:
        hint = f" ({ALLOW_OPTION} allows it)" if failure.reason.startswith("redirect to another origin") else ""
        raise FetchError(f"cannot fetch the configuration: {failure.reason}{hint}") from None
    except BodyError as error:
        if error.problem is BodyProblem.TOO_LARGE:
            raise FetchError(f"the configuration is larger than {max_bytes} bytes") from None
        detail = error.detail or f"not received within {timeout:g} s"
        raise FetchError(f"cannot fetch the configuration: {detail}") from None
    if reply.status >= 400:
        raise FetchError(f"cannot fetch the configuration: HTTP {reply.status} {reply.reason}")
    return reply.body
