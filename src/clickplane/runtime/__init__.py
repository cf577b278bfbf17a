"""Runtimes: where services' servers really run. One package per engine (clickhouse/), over the engine-neutral parts
here: per-service directories, process supervision, ports, files, certificates."""
