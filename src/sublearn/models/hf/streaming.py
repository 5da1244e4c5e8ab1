"""Text deltas while a batch generates: a transformers streamer that turns each step's tokens into the new text of
each row, for servers that stream (``stream: true``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers.generation.streamers import BaseStreamer

from sublearn.models.hf.generation import completion_text

#: Called with (row, new text) as a row's text grows.
OnDelta = Callable[[int, str], None]
#: A row's tokens as text (:func:`~sublearn.models.hf.generation.completion_text`, or :func:`raw_text`).
Decode = Callable[[Any, list[int]], str]


def raw_text(tokenizer: Any, ids: list[int]) -> str:
    """Tokens as text without special tokens, unstripped: a raw continuation, whose spaces are part of it."""
    return tokenizer.decode(ids, skip_special_tokens=True)


class DeltaStreamer(BaseStreamer):
    """Per row, the text generated so far, handed on as deltas that always extend what was sent.

    The text is ``decode`` of the row's tokens (by default
    :func:`~sublearn.models.hf.generation.completion_text`), the text the finished completion has; a row stops at
    its end-of-sequence or padding token. So that the deltas add up to the finished text, text is held back while
    it ends in an incomplete UTF-8 character (decoded as U+FFFD until its other bytes arrive) or no longer extends
    what was sent (a tokenizer's clean-up can rewrite a tail); :meth:`finish` sends the rest from the finished
    completions.
    """

    def __init__(self, tokenizer: Any, rows: int, on_delta: OnDelta, stop_ids: set[int],
                 decode: Decode = completion_text) -> None:
        self.tokenizer, self.on_delta, self.stop_ids, self.decode = tokenizer, on_delta, stop_ids, decode
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self._sent = [""] * rows
        self._done = [False] * rows
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        """transformers calls this with the prompt first (ignored), then with each step's tokens (one per row)."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for row, token in enumerate(value.reshape(-1).tolist()):
            if self._done[row]:
                continue
            if token in self.stop_ids:
                self._done[row] = True
                continue
            self.tokens[row].append(token)
            text = self.decode(self.tokenizer, self.tokens[row])
            if not text.endswith("\ufffd"):
                self._send(row, text)

    def end(self) -> None:
        """Generation finished; the rest is sent by :meth:`finish`, from the completions as returned."""

    def finish(self, texts: list[str]) -> None:
        """Send each row's text not sent yet. ``texts``: the finished completions, which extend what was sent."""
        for row, text in enumerate(texts):
            self._send(row, text)
            if self._sent[row] != text:
                raise RuntimeError(f"streamed row {row}: sent {self._sent[row]!r}, which the completion {text!r} "
                                   "does not extend")

    def _send(self, row: int, text: str) -> None:
        if text.startswith(self._sent[row]) and len(text) > len(self._sent[row]):
            delta, self._sent[row] = text[len(self._sent[row]):], text
            self.on_delta(row, delta)
