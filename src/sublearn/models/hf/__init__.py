"""Local transformers models: load, encode, generate, chat, score continuations, fine-tune (LoRA or full), soft
digit targets, and ``sublearn models install``."""
