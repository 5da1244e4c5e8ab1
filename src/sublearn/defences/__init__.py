"""Defences against subliminal transfer, one module per kind: its settings, what it does to a teacher's soft digit
targets or text rows, what its artifact's key reads besides its settings, and what it costs. The registry
(:mod:`sublearn.defences.registry`) is what the spec, the pipeline, the keys, the cells and the analysis ask.

A defence applies to every student's training data alike (the trait teacher's student and the placebo's), so the
comparison still differs by the trait alone."""
