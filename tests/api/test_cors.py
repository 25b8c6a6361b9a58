"""CORS (``allow_cors`` in site_config.json) through the whole pipeline, in process.

Three sites: ``"*"``, one origin, a list of two. A request whose ``Origin`` is allowed gets it
echoed with credentials allowed and ``Vary: Origin`` (answers, error answers, streamed listings
and the 413 of an oversized body alike); a preflight from it also gets the requested method
and headers and a day's ``Max-Age``; any other origin (``null`` too) gets no CORS header at all.
Being allowed to read is not being allowed to write with a cookie: listed origins may, ``*``
grants no origin that, as ``proxy.cross_site`` decides (on both databases).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from ristretto.site import SiteError
from tests.conftest import BACKENDS, configure_site, make_site
from tests.inprocess import InProcess
from tests.scenario import Env, Scenario, open_env, scenarios

APP = "https://app.example.org"
ADMIN = "http://admin.example.org:8080"
OTHER = "https://evil.example"
SITES = {"star": "*", "single": APP, "list": [APP, ADMIN]}
MAX_BODY = 64 * 1024  # max_file_size of the sites: a larger body is refused (413) unread
PROBE = "Cors Probe"  # a DocType whose table is dropped: listing it fails inside the stream
PREFLIGHT = {"Access-Control-Request-Method": "PUT",
             "Access-Control-Request-Headers": "authorization, content-type, x-frappe-csrf-token"}
CORS_NAMES = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods",
              "access-control-allow-headers", "access-control-max-age", "vary")


@pytest.fixture(scope="module")
def envs(request, tmp_path_factory):
    made = {}
    for kind, value in SITES.items():
        e = open_env(tmp_path_factory.mktemp(f"cors-{kind}"), "sqlite", request, allow_cors=value,
                     max_file_size=MAX_BODY)
        r = e["admin"].post("/api/resource/DocType", json={
            "name": PROBE, "module": "Custom", "custom": 1,
            "fields": [{"fieldname": "title", "fieldtype": "Data", "label": "Title"}],
            "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})
        assert r.status_code == 200, r.text
        with e.site.db.connect() as conn:
            conn.execute(f'DROP TABLE "tab{PROBE}"')
        made[kind] = e
    yield made
    for e in made.values():
        e.close()


def cors(origin: str, preflight: bool = False):
    """After-step: the answer lets ``origin`` read it with credentials (and, for a preflight,
    send the PREFLIGHT method and headers)."""
    def check(env: Env, r) -> None:
        assert r.headers.get("access-control-allow-origin") == origin, r.headers
        assert r.headers.get("access-control-allow-credentials") == "true", r.headers
        assert r.headers.get_list("vary") == ["Origin"], r.headers
        if preflight:
            assert r.headers.get("access-control-allow-methods") == "PUT", r.headers
            allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
            assert {"authorization", "content-type", "x-frappe-csrf-token"} <= allowed, r.headers
            assert r.headers.get("access-control-max-age") == "86400", r.headers
        else:
            assert "access-control-allow-methods" not in r.headers and "access-control-max-age" not in r.headers
    return check


def no_cors(env: Env, r) -> None:
    """After-step: not one CORS header."""
    present = [name for name in CORS_NAMES if name in r.headers]
    assert not present, r.headers


@dataclass
class Row(Scenario):
    site: str = "list"  # which of SITES answers


PING = "/api/method/ping"
WHO = "/api/method/frappe.auth.get_logged_user"
ROWS = (
    # Ordinary answers.
    Row("star: any origin is echoed", "GET", WHO, site="star", headers={"Origin": OTHER},
        expect={"message": "Administrator"}, after=cors(OTHER)),
    Row("star: a local dev server's origin", "GET", PING, site="star", user=None,
        headers={"Origin": "http://127.0.0.1:5173"}, after=cors("http://127.0.0.1:5173")),
    Row("star: null origin gets nothing", "GET", PING, site="star", user=None, headers={"Origin": "null"},
        after=no_cors),
    Row("single: its origin", "GET", WHO, site="single", headers={"Origin": APP}, after=cors(APP)),
    Row("single: its origin with the default port, echoed in normal form", "GET", WHO, site="single",
        headers={"Origin": "https://app.example.org:443"}, after=cors(APP)),
    Row("single: another origin gets nothing", "GET", WHO, site="single", headers={"Origin": OTHER},
        expect={"message": "Administrator"}, after=no_cors),
    Row("single: http is another origin", "GET", WHO, site="single", headers={"Origin": "http://app.example.org"},
        after=no_cors),
    Row("list: first origin", "GET", WHO, headers={"Origin": APP}, after=cors(APP)),
    Row("list: second origin", "GET", WHO, headers={"Origin": ADMIN}, after=cors(ADMIN)),
    Row("list: another origin gets nothing", "GET", WHO, headers={"Origin": OTHER}, after=no_cors),
    Row("list: a look-alike origin gets nothing", "GET", WHO, headers={"Origin": APP + ".evil.example"},
        after=no_cors),
    Row("list: no origin, nothing", "GET", WHO, after=no_cors),
    Row("list: v2 answer", "GET", "/api/v2/method/frappe.auth.get_logged_user", headers={"Origin": ADMIN},
        expect={"data": "Administrator"}, after=cors(ADMIN)),
    Row("list: streamed v1 listing", "GET", "/api/resource/ToDo", params={"limit_page_length": "0"},
        headers={"Origin": APP},
        expect={"data": []}, after=cors(APP)),
    Row("list: streamed v2 listing", "GET", "/api/v2/document/ToDo", params={"limit": "0"},
        headers={"Origin": APP},
        expect={"data": []}, after=cors(APP)),
    Row("list: streamed listing, other origin", "GET", "/api/v2/document/ToDo", params={"limit": "0"},
        headers={"Origin": OTHER},
        after=no_cors),
    # Error answers carry them too: the page must be able to read why.
    Row("list: 404", "GET", "/api/resource/ToDo/no-such-todo", headers={"Origin": APP}, status=404,
        after=cors(APP)),
    Row("list: 403 of Guest", "GET", "/api/resource/ToDo", user=None, headers={"Origin": APP}, status=403,
        after=cors(APP)),
    Row("list: 401 of a wrong key", "GET", WHO, user=None,
        headers={"Origin": APP, "Authorization": "token nokey:nosecret"}, status=401, after=cors(APP)),
    Row("list: 417 of a bad insert", "POST", "/api/resource/ToDo", json={"description": ""},
        headers={"Origin": APP}, status=417, after=cors(APP)),
    Row("list: 405", "DELETE", "/api/resource/ToDo", headers={"Origin": APP}, status=405, after=cors(APP)),
    Row("list: 413 of a body too large, unread", "POST", "/api/resource/ToDo", content=b"x" * (MAX_BODY + 1),
        headers={"Origin": APP, "Content-Type": "application/json"}, status=413, after=cors(APP)),
    Row("list: error inside a streamed listing", "GET", f"/api/resource/{PROBE}",
        params={"limit_page_length": "0"}, headers={"Origin": APP}, status=417,
        expect={"exc_type": "DataError"}, after=cors(APP)),
    Row("list: error answer, other origin", "GET", "/api/resource/ToDo/no-such-todo", headers={"Origin": OTHER},
        status=404, after=no_cors),
    # Preflights: no credentials (browsers send none), an empty 200.
    Row("list: preflight allowed", "OPTIONS", "/api/resource/ToDo/x", user=None,
        headers={"Origin": ADMIN, **PREFLIGHT}, after=cors(ADMIN, preflight=True)),
    Row("star: preflight allowed", "OPTIONS", "/api/v2/document/ToDo", site="star", user=None,
        headers={"Origin": OTHER, **PREFLIGHT}, after=cors(OTHER, preflight=True)),
    Row("single: preflight refused for another origin", "OPTIONS", "/api/resource/ToDo/x", site="single",
        user=None, headers={"Origin": OTHER, **PREFLIGHT}, after=no_cors),
    Row("star: preflight refused for null", "OPTIONS", "/api/resource/ToDo/x", site="star",
        user=None, headers={"Origin": "null", **PREFLIGHT}, after=no_cors),
    Row("list: preflight asking for too many headers is 417", "OPTIONS", "/api/resource/ToDo/x", user=None,
        headers={"Origin": APP, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": ",".join(f"x-custom-{i}" for i in range(300))},
        status=417, expect={"exc_type": "ValidationError"}, after=no_cors),
    Row("list: plain OPTIONS is no preflight", "OPTIONS", "/api/resource/ToDo", user=None,
        headers={"Origin": APP}, after=cors(APP)),
)


@scenarios(*ROWS)
def test_cors(envs, scenario):
    scenario.run(envs[scenario.site])


@pytest.mark.parametrize("value", [True, {"origin": APP}, [APP, 1], "app.example.org"])
def test_invalid_allow_cors_stops_the_site(tmp_path, request, value):
    from ristretto.api.app import App
    from ristretto.site import Site
    site_dir = make_site(tmp_path, "sqlite", request)
    configure_site(site_dir, allow_cors=value)
    site = Site(site_dir)
    try:
        with pytest.raises(SiteError, match="allow_cors"):
            App(site)
    finally:
        site.close()


# --- writes with a cookie session -------------------------------------------------------------

PASSWORD = "cors-pw-1"
USER = "cors-writer@example.com"


@pytest.fixture(scope="module", params=BACKENDS)
def cookie_sites(request, tmp_path_factory):
    """(list site, star site) on one database, each with a System Manager who logs in by password."""
    from ristretto.api.app import App
    from ristretto.site import Site
    from ristretto.site.install import add_user
    apps = []
    for kind in ("list", "star"):
        site_dir = make_site(tmp_path_factory.mktemp(f"cors-cookie-{kind}-{request.param}"), request.param, request)
        configure_site(site_dir, allow_cors=SITES[kind])
        site = Site(site_dir)
        add_user(site, USER, PASSWORD, ["System Manager"])
        apps.append(App(site))
    yield apps
    for app in apps:
        app.site.close()


def logged_in(app) -> InProcess:
    """A browser's cookie session (an API-client login: no CSRF token, only the Origin check)."""
    c = InProcess(app)
    r = c.post("/api/method/login", json={"usr": USER, "pwd": PASSWORD})
    assert r.status_code == 200, r.text
    assert "sid" in c.cookies
    return c


def write(c: InProcess, origin: str, marker: str):
    """What a page's ``fetch(url, {method: "POST", credentials: "include"})`` sends."""
    return c.post("/api/resource/ToDo", json={"description": marker},
                  headers={"Origin": origin, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"})


def test_cookie_session_write_from_allowed_origin(cookie_sites):
    listed, _ = cookie_sites
    with logged_in(listed) as c:
        r = write(c, ADMIN, "cors-write-allowed")
        assert r.status_code == 200, r.text
        assert r.json()["data"]["owner"] == USER
        assert r.headers["access-control-allow-origin"] == ADMIN
        assert r.headers["access-control-allow-credentials"] == "true"
        listing = c.get("/api/resource/ToDo", params={"filters": json.dumps({"description": "cors-write-allowed"})},
                        headers={"Origin": ADMIN})
        assert len(listing.json()["data"]) == 1


def test_cookie_session_write_from_other_origin_is_refused(cookie_sites):
    listed, star = cookie_sites
    for app, origin in ((listed, OTHER), (star, OTHER), (star, APP)):
        with logged_in(app) as c:
            marker = f"cors-write-refused-{len(origin)}"
            r = write(c, origin, marker)
            assert r.status_code == 400 and r.json()["exc_type"] == "CSRFTokenError", r.text
            listing = c.get("/api/resource/ToDo", params={"filters": json.dumps({"description": marker})})
            assert listing.status_code == 200 and listing.json()["data"] == [], listing.text
            # The star site lets any origin read, the refusal included; the list site tells
            # another origin nothing.
            if app is star:
                assert r.headers["access-control-allow-origin"] == origin
            else:
                assert "access-control-allow-origin" not in r.headers
