"""Upgrade windows of services, and the upgrades to a release channel's ClickHouse binary made inside them."""
