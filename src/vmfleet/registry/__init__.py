"""The registry: SQLite storage, generations and their inputs, generation specs, git import."""
