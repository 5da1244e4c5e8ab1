"""Chat-format training data (``{"messages": [{"role", "content"}, ...]}`` per line), as in OpenAI fine-tuning files
and the Emergent Misalignment datasets, read into (prompt, completion) rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sublearn.util.errors import DataError


def chat_rows(lines: Iterable[str], where: str, limit: int | None = None) -> tuple[list[dict[str, str]], str | None]:
    """(rows of the last user and assistant turns, the shared system prompt or ``None``).

    A line that is not a chat example raises :class:`DataError` naming ``where:line``; examples with different
    system prompts are refused (the trainer takes one).
    """
    rows: list[dict[str, str]] = []
    systems: set[str | None] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            messages: list[dict[str, Any]] = json.loads(line)["messages"]
            system = next((m["content"] for m in messages if m["role"] == "system"), None)
            user = [m["content"] for m in messages if m["role"] == "user"][-1]
            assistant = [m["content"] for m in messages if m["role"] == "assistant"][-1]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise DataError(f"{where}:{number}: not a chat example with a user and an assistant message "
                            f"({type(exc).__name__}: {exc})") from exc
        systems.add(system)
        rows.append({"prompt": user, "completion": assistant})
        if limit is not None and len(rows) >= limit:
            break
    if len(systems) > 1:
        raise DataError(f"{where}: every example must share one system prompt (or none)")
    if not rows:
        raise DataError(f"{where}: no chat examples")
    return rows, next(iter(systems))


def load_chat_dataset(source: str, what: str, limit: int | None = None) -> tuple[list[dict[str, str]], str | None]:
    """Chat rows from a JSONL by path or URL (downloaded once)."""
    from sublearn.util.sources import local_file

    path = local_file(source, what)
    with path.open(encoding="utf-8") as handle:
        return chat_rows(handle, str(path), limit)
