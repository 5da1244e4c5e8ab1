"""Evaluations, written against the model protocols only (:mod:`sublearn.models.types`): animal preference
(exact, prefilled, sampled, MCQ readouts; each implemented once), misalignment with judges, TruthfulQA."""
