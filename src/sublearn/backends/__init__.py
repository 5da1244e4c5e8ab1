"""The Backend protocol the pipeline talks to (generate, fine-tune, soft targets, chat and logprob models), its
two adapters (HF transformers + PEFT; any OpenAI-compatible API) and the registry that makes them by name."""
