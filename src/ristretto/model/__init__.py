"""Documents: naming, validation, docstatus, child tables, concurrency and listing."""
