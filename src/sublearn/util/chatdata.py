"""Chat-format training data (``{"messages": [{"role", "content"}, ...]}`` per line), as in OpenAI fine-tuning files
and the Emergent Misalignment datasets, read into (prompt, completion) rows."""

from __future__ import annotations

import json
from collections.abc import Iterable

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
        system, user, assistant = _chat_line(line, f"{where}:{number}")
        systems.add(system)
        rows.append({"prompt": user, "completion": assistant})
        if limit is not None and len(rows) >= limit:
            break
    if len(systems) > 1:
        raise DataError(f"{where}: every example must share one system prompt (or none)")
    if not rows:
        raise DataError(f"{where}: no chat examples")
    return rows, next(iter(systems))


def _chat_line(line: str, where: str) -> tuple[str | None, str, str]:
    """(system, last user turn, last assistant turn) of one line; a bad line is a DataError saying what is wrong."""
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise DataError(f"{where}: not JSON ({exc})") from exc
    messages = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages):
        raise DataError(f"{where}: needs 'messages', a list of {{role, content}} with text content")
    turns = {role: [m["content"] for m in messages if m["role"] == role] for role in ("system", "user", "assistant")}
    missing = [role for role in ("user", "assistant") if not turns[role]]
    if missing:
        raise DataError(f"{where}: no {' and no '.join(missing)} message")
    return (turns["system"][0] if turns["system"] else None), turns["user"][-1], turns["assistant"][-1]


def load_chat_dataset(source: str, what: str, limit: int | None = None) -> tuple[list[dict[str, str]], str | None]:
    """Chat rows from a JSONL by path or URL (downloaded once)."""
    from sublearn.util.sources import local_file

    path = local_file(source, what)
    with path.open(encoding="utf-8") as handle:
        return chat_rows(handle, str(path), limit)
