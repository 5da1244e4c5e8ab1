"""``sublearn serve``: an OpenAI-compatible server over local models."""
