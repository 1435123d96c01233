"""Customer data: the contract, ingest with rejects into versioned files, snapshots, the
point-in-time features and the sample generator."""
