"""Query API endpoints of a service: SQL with placeholders, run through a URL of its own by the API keys listed."""
