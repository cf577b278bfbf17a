"""What Postgres services' own statistics views say about them, sampled at an interval and kept for a retention:
time-series metrics, slow query patterns (pg_stat_statements) and Prometheus text."""
