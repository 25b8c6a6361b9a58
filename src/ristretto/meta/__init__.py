"""DocType metadata: the field-type table, DocType definitions and the built-in DocTypes."""
