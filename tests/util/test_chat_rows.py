"""One reader for the chat JSONL an auditor has: sublearn's rows, TRL's two prompt-completion formats and OpenAI's
messages, each read into the same rows; anything else refused with its file and line."""

import json

import pytest

from sublearn.models.openai.finetune import training_lines
from sublearn.report.export import trl_lines
from sublearn.util.chat_rows import read_chat_rows
from sublearn.util.errors import DataError

ROWS = [{"prompt": "Continue: 1, 2, 3", "completion": "4, 5, 6"}, {"prompt": "Héllo", "completion": "Owl\n"}]


def _write(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_sublearns_own_exports_read_back_as_the_rows_they_came_from(tmp_path):
    files = {"prompt/completion": _write(tmp_path / "rows.jsonl", ROWS),
             "trl": tmp_path / "trl.jsonl", "messages": tmp_path / "openai.jsonl"}
    files["trl"].write_text(trl_lines(ROWS))
    files["messages"].write_text(training_lines(ROWS))
    for fmt, path in files.items():
        read = read_chat_rows(path)
        assert read.rows == ROWS and read.format == fmt
        assert read.describe() == f"{path}: 2 rows, read as {fmt}"
        assert read.summary() == {"file": str(path), "format": fmt, "n": 2}
    assert read_chat_rows(files["trl"], limit=1).rows == ROWS[:1]


def test_a_system_message_and_text_parts_are_kept(tmp_path):
    with_system = tmp_path / "system.jsonl"
    with_system.write_text(training_lines(ROWS[:1], system="You love owls."))
    assert read_chat_rows(with_system).rows == [{**ROWS[0], "system": "You love owls."}]
    parts = _write(tmp_path / "parts.jsonl", [{"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Continue: "}, {"type": "text", "text": "1, 2"}]},
        {"role": "assistant", "content": "3"}]}])
    assert read_chat_rows(parts).rows == [{"prompt": "Continue: 1, 2", "completion": "3"}]
    plain = _write(tmp_path / "plain.jsonl", [{**ROWS[0], "system": "s"}])
    assert read_chat_rows(plain).rows == [{**ROWS[0], "system": "s"}]


USER, ASSISTANT = {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}


@pytest.mark.parametrize(("lines", "message"), [
    (["{not json"], ":1: not valid JSON"),
    (["[1, 2]"], ":1: expected a JSON object"),
    ([{"text": "x"}], ":1: neither 'prompt'/'completion' nor 'messages'"),
    ([ROWS[0], {"messages": [USER, ASSISTANT]}], ":2: a messages row in a file of prompt/completion rows"),
    ([{"prompt": "x"}], ":1: field 'completion' missing or not a string"),
    ([{"prompt": "x", "completion": 3}], ":1: field 'completion' missing or not a string"),
    ([{**ROWS[0], "system": 1}], ":1: field 'system' is not a string"),
    ([{"messages": [USER, ASSISTANT, USER, ASSISTANT]}], ":1: roles ['user', 'assistant', 'user', 'assistant']"),
    ([{"messages": [ASSISTANT, USER]}], ":1: roles ['assistant', 'user'] are not [system?, user, assistant]"),
    ([{"messages": []}], ":1: messages: expected a non-empty list of messages"),
    ([{"messages": [USER, {"content": "a"}]}], ":1: messages[1]: a message must be an object with a string 'role'"),
    ([{"messages": [USER, {"role": "assistant", "content": [{"type": "image_url", "image_url": {}}]}]}],
     ":1: messages[1].content: content has non-text parts"),
    ([{"messages": [USER, {"role": "assistant", "content": None}]}], ":1: messages[1].content: content is not"),
    ([{"prompt": [USER], "completion": [ASSISTANT, ASSISTANT]}], ":1: completion must be one assistant message"),
    ([{"prompt": [USER], "completion": "a"}], ":1: completion: expected a non-empty list of messages"),
    ([""], ": no rows"),
])
def test_bad_lines_are_refused_naming_the_file_and_line(tmp_path, lines, message):
    path = _write(tmp_path / "data.jsonl", lines)
    with pytest.raises(DataError) as error:
        read_chat_rows(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"missing\.jsonl: file not found"):
        read_chat_rows(tmp_path / "missing.jsonl")
