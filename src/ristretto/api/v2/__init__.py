"""REST v2 (``/api/v2/...``): the ``data`` envelope and the ``errors`` list of error bodies."""
