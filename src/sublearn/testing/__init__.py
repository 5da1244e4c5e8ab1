"""Stand-ins for tests and smoke runs: a tiny chat model built locally in seconds."""
