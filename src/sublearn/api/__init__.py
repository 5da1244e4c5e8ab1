"""The OpenAI path: a cached, concurrent, retrying client for chat completions, batches and fine-tuning jobs."""
