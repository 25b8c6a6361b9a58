"""Authentication: users, password hashes, sessions and API keys."""
