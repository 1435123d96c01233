"""Customer data: the contract, ingest with rejects, the sample generator, the DuckDB engine."""
