"""Settings: one pydantic class per concern, validated once and passed down unchanged.

- :mod:`~sublearn.config.training`: the one training config (spec, trainer, ``sublearn serve`` jobs);
- :mod:`~sublearn.config.trait`, :mod:`~sublearn.config.carrier`, :mod:`~sublearn.config.evaluation`: unions
  discriminated by ``kind``, each kind owning its own fields (a carrier owns its filter settings);
- :mod:`~sublearn.config.experiment`: the experiment spec; :mod:`~sublearn.config.grid`: YAML files and grids;
- :mod:`~sublearn.config.paper`: the paper's constants, defined once.

Nothing here imports torch.
"""
