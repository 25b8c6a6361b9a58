"""The OpenAPI description of the site (``/api/openapi.json``) and its docs page (``/api/docs``).

* :mod:`.specs` — how each route is described (a small Spec per handler, as data);
* :mod:`.schemas` — documents' JSON Schemas from DocType metadata and the field-type table;
* :mod:`.generate` — the description for one caller, filtered by what they may do;
* :mod:`.views` — the routes: the description (cached per metadata version and roles), the page
  and its static files.
"""
