"""The control plane's own observability: each request's id in its envelope, its logs and an X-Request-Id header
(context), text or JSON logs with an access line per request (logs, middleware), and Prometheus metrics of
requests, reconciler passes, services by state and logged problems, served at GET /metrics (metrics)."""
