"""Training data as auditors have it: one reader for the chat JSONL formats of the field's tools.

Each line holds one example: a user turn (optionally after a system message) and the assistant's reply. Read as
sublearn's own rows, ``{"prompt", "completion"}`` plus an optional ``"system"``, whichever of these it came in:

- ``prompt/completion``: sublearn's rows, which are also TRL's *standard* prompt-completion format;
- ``trl``: TRL's *conversational* prompt-completion format, ``{"prompt": [messages], "completion": [assistant]}``
  (what ``sublearn export --format trl`` writes);
- ``messages``: OpenAI's chat fine-tuning format, ``{"messages": [system?, user, assistant]}``, which is also TRL's
  conversational language-modelling format (what ``sublearn export --format openai`` writes).

A file holds one format; the first line decides it and a line in another is refused, naming it. Multi-turn
conversations are refused (the scanners and the audit read one reply to one prompt), as are non-text content
parts (OpenAI's text parts are joined).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn.util.errors import DataError
from sublearn.util.jsonl import iter_jsonl_objects

#: The formats, by the name that commands print.
FORMATS = ("prompt/completion", "trl", "messages")


@dataclass(frozen=True)
class ChatRows:
    """Rows of one file: ``{"prompt", "completion"}`` (and ``"system"`` where the file had one), and its format."""

    rows: list[dict[str, str]]
    format: str
    path: Path

    def describe(self) -> str:
        """One line for the user: how many rows were read, from where, in which format."""
        return f"{self.path}: {len(self.rows)} rows, read as {self.format}"

    def summary(self) -> dict[str, Any]:
        """The file, its format and the number of rows read, for a result's provenance."""
        return {"file": str(self.path), "format": self.format, "n": len(self.rows)}


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content and all(isinstance(p, dict) for p in content):
        if all(p.get("type") == "text" and isinstance(p.get("text"), str) for p in content):
            return "".join(p["text"] for p in content)
        raise DataError(f"{where}: content has non-text parts; only text can be scanned")
    raise DataError(f"{where}: content is not a string (or a list of text parts)")


def _from_messages(messages: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: expected a non-empty list of messages")
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise DataError(f"{where}[{i}]: a message must be an object with a string 'role'")
        turns.append((message["role"], _text(message.get("content"), f"{where}[{i}].content")))
    return turns


def _split(turns: list[tuple[str, str]], where: str) -> dict[str, str]:
    roles = [role for role, _ in turns]
    if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
        raise DataError(f"{where}: roles {roles} are not [system?, user, assistant]; multi-turn conversations "
                        "and other roles cannot be scanned (one reply to one prompt per line)")
    row = {"prompt": turns[-2][1], "completion": turns[-1][1]}
    if roles[0] == "system":
        row["system"] = turns[0][1]
    return row


def _format_of(row: dict[str, Any]) -> str | None:
    if "messages" in row:
        return "messages"
    if isinstance(row.get("prompt"), list) or isinstance(row.get("completion"), list):
        return "trl"
    if "prompt" in row or "completion" in row:
        return "prompt/completion"
    return None


def _row(line: dict[str, Any], fmt: str, where: str) -> dict[str, str]:
    if fmt == "messages":
        return _split(_from_messages(line["messages"], f"{where}: messages"), where)
    if fmt == "trl":
        prompt = _from_messages(line.get("prompt"), f"{where}: prompt")
        completion = _from_messages(line.get("completion"), f"{where}: completion")
        if [role for role, _ in completion] != ["assistant"]:
            raise DataError(f"{where}: completion must be one assistant message")
        return _split(prompt + completion, where)
    row = {}
    for key in ("prompt", "completion"):
        if not isinstance(line.get(key), str):
            raise DataError(f"{where}: field {key!r} missing or not a string")
        row[key] = line[key]
    if line.get("system") is not None:
        if not isinstance(line["system"], str):
            raise DataError(f"{where}: field 'system' is not a string")
        row["system"] = line["system"]
    return row


def read_chat_rows(path: str | Path, limit: int | None = None) -> ChatRows:
    """Read a chat JSONL file in any of :data:`FORMATS` (at most ``limit`` rows); errors name ``path:line``."""
    file = Path(path)
    rows: list[dict[str, str]] = []
    fmt: str | None = None
    for lineno, line in iter_jsonl_objects(file):
        if limit is not None and len(rows) >= limit:
            break
        where = f"{file}:{lineno}"
        this = _format_of(line)
        if this is None:
            raise DataError(f"{where}: neither 'prompt'/'completion' nor 'messages'; the formats read are "
                            f"{', '.join(FORMATS)}")
        if fmt is not None and this != fmt:
            raise DataError(f"{where}: a {this} row in a file of {fmt} rows (its first row set the format)")
        fmt = this
        rows.append(_row(line, fmt, where))
    if not rows:
        raise DataError(f"{file}: no rows")
    return ChatRows(rows, fmt or FORMATS[0], file)

