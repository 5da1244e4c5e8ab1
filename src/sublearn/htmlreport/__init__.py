"""``sublearn report RUN_DIR``: a static, offline HTML report of a run, every number linked to its artifacts."""
