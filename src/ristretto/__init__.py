"""Ristretto: a fast, Frappe-compatible document API server."""

__version__ = "0.1.0"
