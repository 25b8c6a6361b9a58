"""``allow_cors`` parsed (``Cors.from_config``), origins matched, and the headers ``Cors.apply``
adds to a response, preflights included, without a site."""

from __future__ import annotations

import pytest

from ristretto.api.asgi import Request, Response
from ristretto.api.cors import MAX_REQUEST_HEADERS, Cors

APP = "https://app.example.org"
ADMIN = "http://admin.example.org:8080"


def request(method: str = "GET", **headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "path": "/api/method/ping", "headers": raw})


def added(cors: Cors, req: Request) -> dict[str, str]:
    """The headers ``apply`` added to an empty 200, by name (a 417 in place of it fails here)."""
    response = cors.apply(req, Response(b"", 200, b"text/plain"))
    assert response.status == 200, response.body
    return {k.decode(): v.decode() for k, v in response.headers[1:]}


@pytest.mark.parametrize("value", [None, "", [], ["*"]])
def test_no_origin_allowed_means_nothing_to_do(value):
    assert Cors.from_config({"allow_cors": value}) is None
    assert Cors.from_config({}) is None


def test_star_single_and_list():
    star = Cors.from_config({"allow_cors": "*"})
    assert star.any_origin and not star.origins
    single = Cors.from_config({"allow_cors": APP})
    assert not single.any_origin and single.origins == {APP}
    # Written as people write them: trailing slash, capitals, the default port; "*" in a list
    # stands for no origin (as Frappe reads it).
    listed = Cors.from_config({"allow_cors": ["HTTPS://App.Example.org:443/", ADMIN, "*"]})
    assert not listed.any_origin and listed.origins == {APP, ADMIN}


@pytest.mark.parametrize("value", [True, 1, {"a": 1}, [APP, 3], [[APP]], "app.example.org",
                                   ["ftp://files.example.org"], ["null"], ["https://"]])
def test_invalid_values_are_refused(value):
    with pytest.raises(ValueError, match="allow_cors"):
        Cors.from_config({"allow_cors": value})


def test_allowed_origins():
    listed = Cors.from_config({"allow_cors": [APP, ADMIN]})
    assert listed.allowed(APP) == APP and listed.allowed(ADMIN) == ADMIN
    assert listed.allowed("https://app.example.org:443") == APP  # echoed in normal form
    for other in ("https://evil.example", "http://app.example.org", "https://app.example.org:8443",
                  "https://app.example.org.evil.example", "null", "", "x" * 5000):
        assert listed.allowed(other) is None, other
    star = Cors.from_config({"allow_cors": "*"})
    assert star.allowed("https://anyone.example") == "https://anyone.example"
    assert star.allowed("http://127.0.0.1:5173") == "http://127.0.0.1:5173"
    # A sandboxed frame or a local file must never read with the user's cookies.
    for never in ("null", "file://", "chrome-extension://abc", "https://user:pw@host.example", "x" * 5000):
        assert star.allowed(never) is None, never


def test_ordinary_response_from_allowed_origin():
    cors = Cors.from_config({"allow_cors": APP})
    assert added(cors, request(origin=APP)) == {"access-control-allow-origin": APP,
                                                "access-control-allow-credentials": "true",
                                                "vary": "Origin"}
    # A plain OPTIONS (no Access-Control-Request-Method) is no preflight.
    assert "access-control-allow-methods" not in added(cors, request("OPTIONS", origin=APP))


def test_nothing_added_without_origin_or_for_another_origin():
    cors = Cors.from_config({"allow_cors": APP})
    assert added(cors, request()) == {}
    assert added(cors, request(origin="https://evil.example")) == {}
    assert added(cors, request("OPTIONS", origin="https://evil.example", access_control_request_method="PUT",
                               access_control_request_headers="authorization")) == {}


def test_preflight_from_allowed_origin():
    cors = Cors.from_config({"allow_cors": [APP]})
    got = added(cors, request("OPTIONS", origin=APP, access_control_request_method="DELETE",
                              access_control_request_headers="authorization,content-type, x-frappe-csrf-token"))
    assert got == {"access-control-allow-methods": "DELETE", "access-control-max-age": "86400",
                   "access-control-allow-headers": "authorization, content-type, x-frappe-csrf-token",
                   "access-control-allow-origin": APP, "access-control-allow-credentials": "true",
                   "vary": "Origin"}
    # No headers asked for: none allowed.
    got = added(cors, request("OPTIONS", origin=APP, access_control_request_method="GET"))
    assert got["access-control-allow-methods"] == "GET" and "access-control-allow-headers" not in got


@pytest.mark.parametrize("headers", [
    {"access_control_request_method": "PUT X"},
    {"access_control_request_method": "P" * 33},
    {"access_control_request_method": ""},
    {"access_control_request_method": "PUT", "access_control_request_headers": "a, b\x01c"},
    {"access_control_request_method": "PUT", "access_control_request_headers": "x-a," * (MAX_REQUEST_HEADERS // 4 + 1)},
])
def test_unreadable_preflight_is_417(headers):
    cors = Cors.from_config({"allow_cors": APP})
    response = cors.apply(request("OPTIONS", origin=APP, **headers), Response(b"", 200, b"text/plain"))
    assert response.status == 417 and b"Access-Control-Request" in response.body
    assert not any(name.startswith(b"access-control") for name, _ in response.headers)


def test_longest_accepted_request_headers():
    cors = Cors.from_config({"allow_cors": APP})
    names = ",".join(f"x-h{i:03d}" for i in range(MAX_REQUEST_HEADERS // 7))  # 6 chars + comma each
    assert len(names) <= MAX_REQUEST_HEADERS
    got = added(cors, request("OPTIONS", origin=APP, access_control_request_method="PUT",
                              access_control_request_headers=names))
    assert got["access-control-allow-headers"] == names.replace(",", ", ")
