"""The HTTP API: thin routers that parse, authorize, call the domain layer and render the envelope."""
