"""API keys: create (shown once), list, get, update, delete; whoami."""
