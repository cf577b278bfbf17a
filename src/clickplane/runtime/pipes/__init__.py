"""The ClickPipes workers' parts that talk to sources and destinations (Postgres over logical decoding, object
storage, the destination ClickHouse), knowing nothing of the API or the store."""
