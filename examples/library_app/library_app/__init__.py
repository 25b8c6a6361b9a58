"""Library: a small example Ristretto app (books, tags and submittable loans).

List it in a site's ``site_config.json`` and migrate::

    {"apps": ["library_app"], "app_paths": ["/path/to/examples/library_app"]}

What an app provides, all read once when the site is opened:

* ``doctypes/``: Frappe DocType JSON files, imported by ``ristretto migrate``;
* ``controllers``: DocType name -> controller class (lifecycle hooks and
  whitelisted document methods);
* ``methods_modules``: the modules whose ``@whitelist`` functions are callable at
  ``/api/method/<name>``;
* ``permission_rules``: DocType name -> rule class narrowing who sees which documents.
"""

from library_app.controllers import LibraryBook, LibraryLoan
from library_app.permissions import MemberLoans

controllers = {"Library Book": LibraryBook, "Library Loan": LibraryLoan}
methods_modules = ["library_app.api"]
permission_rules = {"Library Loan": MemberLoans}
