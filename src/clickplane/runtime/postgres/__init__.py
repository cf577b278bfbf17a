"""The PostgreSQL runtimes: the interface Postgres services are driven through, and the local runtime (PostgreSQL
clusters as processes on this machine)."""
