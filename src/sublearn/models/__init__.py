"""Models behind one small interface: torch-free chat types and protocols (:mod:`~sublearn.models.types`), local
transformers models (:mod:`~sublearn.models.hf`) and OpenAI-compatible APIs (:mod:`~sublearn.models.openai`)."""
