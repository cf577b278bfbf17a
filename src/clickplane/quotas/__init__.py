"""Quotas: services per organization, replicas per warehouse."""
