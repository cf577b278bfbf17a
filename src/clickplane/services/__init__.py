"""ClickHouse services: create, change, scale, stop, start, delete; their lifecycle table."""
