"""Managed Postgres services: real PostgreSQL servers, run by the reconciler through a Postgres runtime."""
