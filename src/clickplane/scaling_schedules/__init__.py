"""Scaling schedules of services: weekly windows in which a service runs at another scale."""
