"""HTML pages served by Ristretto itself: the login page, the OAuth consent page, and the shared
layout (one HTML shell, one stylesheet) other pages reuse. ``routes.ROUTES`` are their URLs;
their errors are HTML pages too (``envelope``, the route flag ``api="page"``)."""
