"""Who is really on the other end: the client's address and the origin it asked for.

``X-Forwarded-For``, ``-Host`` and ``-Proto`` can be sent by anyone, so they are
believed only when the direct peer is one of the site's ``trusted_proxies``
(addresses or CIDR networks, e.g. ``["127.0.0.1", "10.0.0.0/8"]``). The client is
then the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy:
entries to its left were written by the client and prove nothing.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, Union
from urllib.parse import urlsplit

from ristretto.api.asgi import Request

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
# Entries of X-Forwarded-For looked at, from the right: a chain of proxies is short.
MAX_HOPS = 32
MAX_ORIGIN = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def trusted_networks(config: dict[str, Any]) -> tuple[Network, ...]:
    """The site's ``trusted_proxies``; ValueError names an entry that is not an address or network."""
    raw = config.get("trusted_proxies") or ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ValueError("trusted_proxies must be a list of addresses or CIDR networks")
    entries = tuple(str(e) for e in raw)
    try:
        return _networks(entries)
    except ValueError:
        for entry in entries:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or CIDR network") from None
        raise


def _address(text: str) -> Address | None:
    """An address as proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), or None."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def _trusted(ip: Address | None, nets: tuple[Network, ...]) -> bool:
    return ip is not None and any(ip in n for n in nets)


def from_trusted_proxy(request: Request, config: dict[str, Any]) -> bool:
    nets = trusted_networks(config)
    return bool(nets) and request.client is not None and _trusted(_address(request.client), nets)


def client_address(request: Request, config: dict[str, Any]) -> str | None:
    """The client's address: the peer's, or what trusted proxies say it is."""
    peer = request.client
    if not from_trusted_proxy(request, config):
        return peer
    header = request.header("x-forwarded-for")
    if not header:
        return peer
    nets = trusted_networks(config)
    nearest = peer
    for hop in reversed(header.split(",")[-MAX_HOPS:]):
        ip = _address(hop)
        if ip is None:
            # Not an address: nothing to its left can be believed; the proxy that passed it on
            # stands for the client.
            return nearest
        if not _trusted(ip, nets):
            return str(ip)
        nearest = str(ip)
    return nearest


def normalise_origin(text: str | None) -> str | None:
    """``scheme://host[:port]`` (lower case, default port left out) of an http(s) origin, or None."""
    if not text or len(text) > MAX_ORIGIN:
        return None
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def request_origin(request: Request, config: dict[str, Any]) -> str | None:
    """The origin the client asked for: scheme and ``Host`` (forwarded ones from trusted proxies)."""
    scheme = request.scope.get("scheme") or "http"
    host = request.header("host")
    if from_trusted_proxy(request, config):
        proto = (request.header("x-forwarded-proto") or "").rpartition(",")[2].strip().lower()
        if proto in _DEFAULT_PORTS:
            scheme = proto
        forwarded_host = (request.header("x-forwarded-host") or "").rpartition(",")[2].strip()
        if forwarded_host:
            host = forwarded_host
    if not host:
        return None
    return normalise_origin(f"{scheme}://{host}")


def allowed_origins(config: dict[str, Any]) -> frozenset[str]:
    """Origins listed in ``allow_cors`` (a string or a list, as Frappe's); ``*`` lists none."""
    raw = config.get("allow_cors") or ()
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        return frozenset()
    return frozenset(o for o in (normalise_origin(str(e)) for e in raw if e != "*") if o)


def cross_site(request: Request, config: dict[str, Any]) -> bool:
    """Does a browser say this request comes from another site, not one the site allows?

    ``Origin`` decides when present; a browser-set ``Sec-Fetch-Site: same-origin`` also
    vouches for it (a proxy may have rewritten ``Host``). Without ``Origin``, only
    ``Sec-Fetch-Site`` can say so. API clients send neither and are never cross-site."""
    fetch_site = (request.header("sec-fetch-site") or "").strip().lower()
    origin = request.header("origin")
    if origin is None:
        return fetch_site in ("cross-site", "same-site")
    if fetch_site == "same-origin":
        return False
    normal = normalise_origin(origin)
    if normal is None:  # "null" (sandboxed frames, file: pages) and anything unreadable
        return True
    return normal != request_origin(request, config) and normal not in allowed_origins(config)
