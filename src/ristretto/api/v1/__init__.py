"""REST v1 (``/api/resource``, ``/api/method``, also under ``/api/v1``) and legacy ``cmd=``."""
