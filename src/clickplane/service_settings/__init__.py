"""A service's ClickHouse settings through the API."""
