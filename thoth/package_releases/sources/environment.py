"""What a request takes from the run's environment: proxies (and NO_PROXY), ~/.netrc credentials, the CA bundle.

requests reads them from ``os.environ`` on every request; the job's sessions resolve them once per origin from
the environment a run is given.
"""

from __future__ import annotations

import ipaddress
import netrc
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """Return the CA bundle the environment names (REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE), if any."""
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or None


def environ_proxies(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the proxies (by scheme) the environment's ``*_proxy`` variables give for ``url``; none if bypassed."""
    proxies: dict[str, str] = {}
    # Lower-case names win, as in urllib; HTTP_PROXY is ignored in a CGI request (httpoxy).
    for name in sorted(environ, key=lambda key: key.islower()):
        value = environ[name]
        if name.lower().endswith("_proxy") and value and name.lower() != "no_proxy":
            if name == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
                continue
            proxies[name.lower()[: -len("_proxy")]] = value
    if not proxies or _bypasses_proxy(url, environ.get("no_proxy") or environ.get("NO_PROXY") or ""):
        return {}
    return proxies


def _bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Return whether the host of ``url`` is in a NO_PROXY list (host names, domains, IP addresses, CIDR ranges)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for entry in (item.strip().lower() for item in no_proxy.replace(" ", "").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        if port and str(parts.port) != port:
            continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
            continue
        except ValueError:
            pass
        domain = name.lstrip(".")
        if host == domain or host.endswith(f".{domain}"):
            return True
    return False


def netrc_auth(url: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Return the (login, password) for ``url``'s host from $NETRC or else ~/.netrc (or ~/_netrc); None if none."""
    home = environ.get("HOME") or str(Path.home())
    named = environ.get("NETRC")
    candidates = [Path(named).expanduser()] if named else [Path(home, ".netrc"), Path(home, "_netrc")]
    host = urlsplit(url).hostname
    for path in candidates:
        if not host or not path.exists():
            continue
        try:
            found = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError):
            return None  # like requests: a broken ~/.netrc means no credentials, not a failed run
        if found is None:
            return None
        login, account, password = found
        return (login or account or "", password or "")
    return None
