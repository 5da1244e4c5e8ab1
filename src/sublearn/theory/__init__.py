"""Theorem 1 of the paper, checked numerically (the audit tools built on the same quantity live in sublearn.audit)."""
