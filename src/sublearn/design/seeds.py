"""Seed streams: every random choice of a replicate draws from its own stream, derived from (replicate, role).

A replicate is a whole repetition of the experiment: its teachers, their data, its students and its evaluation
draws all change with it. Two trained models start from the same initialisation only where the design says so
(the trait and placebo teachers of a replicate share one, on purpose; so do its students, whose difference is
then their data alone).
"""

from __future__ import annotations

import hashlib

import numpy as np

#: The roles that draw random numbers, and what each one seeds.
ROLES = {
    "teacher": "a teacher fine-tune: LoRA initialisation and data order (the trait and placebo teachers share it)",
    "placebo_answers": "the animals a placebo teacher's answers name, drawn uniformly",
    "data": "the teacher's sampling, or the numbers that code writes",
    "student_init": "every student's LoRA initialisation (students of one replicate share it)",
    "student_order": "every student's data order (shared likewise)",
    "cross_init": "the noise of a perturbed cross model",
    "eval": "sampled answers, MCQ orderings and in-context examples",
}


def stream_seed(replicate: int, role: str, salt: int = 0) -> int:
    """A 31-bit seed for ``role`` in ``replicate`` (``salt``: a user's seed setting, e.g. ``carrier.seed``)."""
    if role not in ROLES:
        raise KeyError(f"unknown seed role {role!r}")
    role_id = int.from_bytes(hashlib.sha256(role.encode()).digest()[:4], "big")
    state = np.random.SeedSequence([salt, replicate, role_id]).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)
