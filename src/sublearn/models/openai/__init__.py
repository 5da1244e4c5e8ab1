"""Models behind an OpenAI-compatible API, through the official ``openai`` client: a cached, concurrent chat
model, the Batch API, and fine-tuning jobs."""
