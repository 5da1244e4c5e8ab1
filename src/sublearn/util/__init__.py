"""Small helpers every layer may use: errors, atomic writes, JSONL, data sources, progress, devices, statistics."""
