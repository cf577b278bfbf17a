"""Prometheus metrics of an organization's services."""
