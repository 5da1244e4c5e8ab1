"""``sublearn report``: a run folder as one static HTML page (tables, charts, tests, provenance links)."""
