"""Backups of services: schedules, buckets, taking, pruning and restoring."""
