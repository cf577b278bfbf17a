"""A service's query endpoint: which keys may use the Query API on it, with which role."""
