"""Evaluations: animal preference (sampled rate, exact probability, format-robust readouts), misalignment."""
