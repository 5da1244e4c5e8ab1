"""Auditing a pipeline: do two models share an initialisation (``family``), does a dataset carry a teacher's
signature (``scan``), what would a distillation step do to a trait (``gradient_lm``, ``gradient_mnist``), which
data detectors tell a trait teacher's data from a placebo's (``detectors_mnist``), and do these predictors rank
measured transfer (``validation``)."""
