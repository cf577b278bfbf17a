"""The ClickHouse runtimes: the interface the services controller drives, and the local runtime (ClickHouse servers
as processes on this machine)."""
