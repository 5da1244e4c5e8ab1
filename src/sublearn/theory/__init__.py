"""Theorem 1 of the paper, checked numerically, and the gradient-alignment audit built on the same quantity."""
