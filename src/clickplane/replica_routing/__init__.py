"""A service's replica-aware routing switches (clickhousectl's `service replica-aware-routing`)."""
