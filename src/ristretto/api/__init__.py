"""The HTTP layer: Frappe's REST v1 routes, RPC and error responses over a thin ASGI kernel."""
