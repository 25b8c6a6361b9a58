"""The admin web UI ("desk") at ``/app``: an HTML shell and the static files of a small front end.

The front end (``static/``: plain ES modules and one stylesheet, no build step, nothing from
another host) talks only to the public HTTP API, with the session cookie and its CSRF token,
so every permission rule applies to it exactly as to any other client.
"""
