"""Model backends behind one small interface: HF transformers (+ PEFT), and later vLLM and OpenAI-compatible APIs."""
