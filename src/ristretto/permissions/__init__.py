"""Who may do what: DocPerm evaluation (rules.py) and the policy the model layer consults (docperm.py)."""
