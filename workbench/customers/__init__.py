"""Customer data: the contract, ingest with rejects into versioned files, snapshots, the
point-in-time features, the sample generator and the DuckDB engine."""
