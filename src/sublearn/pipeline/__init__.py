"""The LLM experiment as stages over content-addressed artifacts.

- :mod:`~sublearn.pipeline.arms`: the declarative table of teachers and arms (what every control is);
- :mod:`~sublearn.pipeline.stages`: one function per stage, ``(context, inputs) → artifact``;
- :mod:`~sublearn.pipeline.keys`: how every artifact key is derived, and the stage versions;
- :mod:`~sublearn.pipeline.cell`: one cell, a short loop over its arms; :mod:`~sublearn.pipeline.grid`: many;
- :mod:`~sublearn.pipeline.store`: the artifact store (atomic, resumable, locked, optionally mirrored).
"""
