"""Carriers: what the teacher writes (number sequences, code, reasoning traces), with the paper's filters."""
