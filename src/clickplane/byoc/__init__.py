"""Bring-your-own-cloud infrastructure of organizations: recorded and reported, never provisioned."""
