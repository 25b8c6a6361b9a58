"""Client address and origin behind trusted proxies (ristretto.api.proxy), without a server."""

from __future__ import annotations

import pytest

from ristretto.api.asgi import Request
from ristretto.api.proxy import client_address, cross_site, normalise_origin, request_origin, trusted_networks

CONFIG = {"trusted_proxies": ["10.0.0.1", "192.168.0.0/16", "::1"], "allow_cors": ["https://app.example.org"]}


def request(peer: str, scheme: str = "http", **headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "scheme": scheme, "headers": raw,
                    "client": (peer, 1234)})


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: the header is ignored
    ("10.0.0.1", None, "10.0.0.1"),
    ("10.0.0.1", "1.2.3.4", "1.2.3.4"),
    ("10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # what the client wrote to the left proves nothing
    ("10.0.0.1", "6.6.6.6, 1.2.3.4, 192.168.4.5", "1.2.3.4"),  # through a second trusted proxy
    ("10.0.0.1", "192.168.4.5, 192.168.4.6", "192.168.4.5"),  # all trusted: the furthest one
    ("10.0.0.1", "1.2.3.4:5678", "1.2.3.4"),
    ("10.0.0.1", "[2001:db8::1]:80", "2001:db8::1"),
    ("10.0.0.1", "6.6.6.6, garbage, 192.168.4.5", "192.168.4.5"),  # unreadable: the proxy stands in
    ("::1", "1.2.3.4", "1.2.3.4"),
    ("::ffff:10.0.0.1", "1.2.3.4", "1.2.3.4"),
])
def test_client_address(peer, forwarded, expected):
    headers = {"x_forwarded_for": forwarded} if forwarded is not None else {}
    assert client_address(request(peer, **headers), CONFIG) == expected


def test_without_trusted_proxies_the_peer_is_the_client():
    assert client_address(request("10.0.0.1", x_forwarded_for="1.2.3.4"), {}) == "10.0.0.1"


def test_bad_trusted_proxies_are_named():
    with pytest.raises(ValueError, match="not-an-ip"):
        trusted_networks({"trusted_proxies": ["10.0.0.1", "not-an-ip"]})
    with pytest.raises(ValueError):
        trusted_networks({"trusted_proxies": {"a": 1}})


@pytest.mark.parametrize("text, expected", [
    ("https://Example.COM", "https://example.com"),
    ("https://example.com:443", "https://example.com"),
    ("http://example.com:80", "http://example.com"),
    ("http://example.com:8000", "http://example.com:8000"),
    ("http://[::1]:8000", "http://[::1]:8000"),
    ("null", None), ("", None), ("ftp://example.com", None), ("https://u:p@example.com", None),
    ("http://example.com:99999", None), ("https://" + "a" * 3000, None),
])
def test_normalise_origin(text, expected):
    assert normalise_origin(text) == expected


def test_request_origin_believes_forwarded_host_only_from_trusted_proxies():
    headers = {"host": "127.0.0.1:8000", "x_forwarded_host": "erp.example.com", "x_forwarded_proto": "https"}
    assert request_origin(request("10.0.0.1", **headers), CONFIG) == "https://erp.example.com"
    assert request_origin(request("203.0.113.9", **headers), CONFIG) == "http://127.0.0.1:8000"


@pytest.mark.parametrize("headers, expected", [
    ({}, False),
    ({"origin": "http://site.test:8000"}, False),
    ({"origin": "https://app.example.org"}, False),
    ({"origin": "https://app.example.org", "sec_fetch_site": "cross-site"}, False),
    ({"origin": "https://evil.test"}, True),
    ({"origin": "null"}, True),
    ({"origin": "https://site.test:8000"}, True),
    ({"origin": "https://evil.test", "sec_fetch_site": "same-origin"}, False),
    ({"sec_fetch_site": "cross-site"}, True),
    ({"sec_fetch_site": "same-site"}, True),
    ({"sec_fetch_site": "same-origin"}, False),
    ({"sec_fetch_site": "none"}, False),
])
def test_cross_site(headers, expected):
    assert cross_site(request("203.0.113.9", host="site.test:8000", **headers), CONFIG) is expected
