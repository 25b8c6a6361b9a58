"""Who may do what: the permission policy the model layer consults."""
