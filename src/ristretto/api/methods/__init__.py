"""Whitelisted methods, grouped by the Frappe module whose names they answer to."""
