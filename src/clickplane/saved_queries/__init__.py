"""Saved queries of a service: SQL kept with the database it runs in and its placeholders' values."""
