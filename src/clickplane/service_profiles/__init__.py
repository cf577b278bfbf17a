"""The service profiles offered in a region (clickhousectl's `service profile list`)."""
