"""The reference's defaults of a pipe's settings: what the API shows for a key never set, and what its worker uses."""

from __future__ import annotations

from typing import Any

DEFAULT_SETTINGS: dict[str, Any] = {
    "streaming_max_insert_wait_ms": 5000, "object_storage_polling_interval_ms": 30000,
    "object_storage_max_file_count": 100, "object_storage_concurrency": 1,
    "object_storage_max_insert_bytes": 10 * 1024**3, "clickhouse_max_threads": 3, "clickhouse_max_insert_threads": 1,
    "clickhouse_min_insert_block_size_bytes": 1024**3, "clickhouse_max_download_threads": 4,
    "clickhouse_parallel_distributed_insert_select": 2, "object_storage_use_cluster_function": True,
    "clickhouse_parallel_view_processing": False, "kafka_read_committed": False,
}
