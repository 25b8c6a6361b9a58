"""The route table of the site: every URL the server answers, in one list."""

from __future__ import annotations

from ristretto.api import oauth
from ristretto.api.openapi import views as openapi
from ristretto.api.pages import routes as pages
from ristretto.api.routing import Router
from ristretto.api.v1 import routes as v1
from ristretto.api.v2 import routes as v2


def router() -> Router:
    return Router([*v2.ROUTES, *oauth.ROUTES, *openapi.ROUTES, *v1.ROUTES, *pages.ROUTES])
