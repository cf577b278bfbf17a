"""Organizations: get, list, update; the bootstrap of the first one."""
