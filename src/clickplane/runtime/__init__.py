"""Runtimes: where services' ClickHouse servers really run."""
