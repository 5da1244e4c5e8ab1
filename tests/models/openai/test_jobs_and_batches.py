"""Fine-tuning jobs and batches against a scripted fake of the `openai` client: a failed job is retried by a
rerun, polling has a deadline, an expired batch's partial output is kept, and the request cache tells apart two
models served under one name."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from sublearn.models.openai.cache import RequestCache
from sublearn.models.openai.client import ApiError, OpenAIChatModel
from sublearn.models.openai.finetune import hyperparameters, run_fine_tuning_job
from sublearn.models.types import ChatRequest
from sublearn.util.errors import DataError

ROWS = [{"prompt": "q", "completion": "a"}]


class FakeJobs:
    """Jobs whose final status is scripted per creation: ``outcomes[i]`` for the i-th job created."""

    def __init__(self, outcomes: list[str]) -> None:
        self.outcomes, self.created, self.status = outcomes, [], {}

    def create(self, **kwargs):
        job_id = f"ftjob-{len(self.created)}"
        self.created.append(kwargs)
        self.status[job_id] = self.outcomes[len(self.created) - 1]
        return SimpleNamespace(id=job_id)

    def retrieve(self, job_id):
        status = self.status[job_id]
        return SimpleNamespace(id=job_id, status=status, fine_tuned_model=f"ft:{job_id}" if status == "succeeded"
                               else None, error=SimpleNamespace(message="boom"), training_file="file-1",
                               trained_tokens=3, hyperparameters=None)

    def list(self, **kwargs):
        return SimpleNamespace(data=[])


def _client(jobs: FakeJobs) -> SimpleNamespace:
    return SimpleNamespace(files=SimpleNamespace(create=lambda **kw: SimpleNamespace(id="file-1")),
                           fine_tuning=SimpleNamespace(jobs=jobs))


def test_a_failed_job_is_retried_with_a_new_job_on_rerun(tmp_path):
    jobs = FakeJobs(["failed", "succeeded"])
    client = _client(jobs)
    hyper = hyperparameters(1, "auto", "auto")
    with pytest.raises(ApiError, match=r"ftjob-0: failed .*rerun to retry"):
        run_fine_tuning_job(client, "base", ROWS, hyper, tmp_path, key="k", poll_s=0)
    assert "job_id" not in json.loads((tmp_path / "job.json").read_text())  # the failed job is forgotten
    result = run_fine_tuning_job(client, "base", ROWS, hyper, tmp_path, key="k", poll_s=0)
    assert result["model_id"] == "ft:ftjob-1" and len(jobs.created) == 2


def test_polling_a_job_has_a_deadline(tmp_path):
    client = _client(FakeJobs(["running"]))
    with pytest.raises(ApiError, match=r"still 'running' after 0\.05 s"):
        run_fine_tuning_job(client, "base", ROWS, hyperparameters(1, "auto", "auto"), tmp_path, key="k",
                            poll_s=0.01, poll_timeout_s=0.05)


def test_a_corrupt_job_state_file_is_named(tmp_path):
    (tmp_path / "job.json").write_text("{half")
    with pytest.raises(DataError, match=r"job\.json: corrupt, not valid JSON .*delete it to start the job again"):
        run_fine_tuning_job(_client(FakeJobs([])), "base", ROWS, hyperparameters(1, "auto", "auto"), tmp_path,
                            key="k")


def _completion(text: str) -> dict:
    return {"choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}]}


class FakeChatServer:
    """Chat completions that echo the user's message, a models endpoint, and batches that expire after
    answering only the first request."""

    def __init__(self, created: int = 1) -> None:
        self.created, self.single_calls, self.batch_lines = created, 0, []
        self.base_url = "http://fake/v1"
        self.models = SimpleNamespace(retrieve=lambda name: SimpleNamespace(id=name, created=self.created,
                                                                           owned_by="me"))
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))
        self.files = SimpleNamespace(create=self._upload, content=self._content)
        self.batches = SimpleNamespace(create=lambda **kw: SimpleNamespace(id="batch-1"),
                                       retrieve=lambda batch_id: SimpleNamespace(
                                           id=batch_id, status="expired", output_file_id="file-out", errors=None))

    def _create(self, **body):
        self.single_calls += 1
        return SimpleNamespace(model_dump=lambda mode: _completion(body["messages"][-1]["content"]))

    def _upload(self, file, purpose):
        self.batch_lines = [json.loads(line) for line in file.read().decode().splitlines() if line.strip()]
        return SimpleNamespace(id="file-in")

    def _content(self, file_id):
        first = self.batch_lines[0]
        row = {"custom_id": first["custom_id"], "response": {"status_code": 200, "body": _completion(
            first["body"]["messages"][-1]["content"])}}
        return SimpleNamespace(text=json.dumps(row) + "\n")


def _requests(n: int) -> list[ChatRequest]:
    return [ChatRequest((("user", f"m{i}"),), temperature=0, max_tokens=4) for i in range(n)]


def test_an_expired_batch_keeps_what_it_finished_and_sends_the_rest_one_by_one(tmp_path: Path):
    server = FakeChatServer()
    model = OpenAIChatModel(server, "m", cache=RequestCache(tmp_path / "cache"), poll_timeout_s=5)
    answers = model.chat_batch(_requests(3), tmp_path, poll_s=0)
    assert [a[0].text for a in answers] == ["m0", "m1", "m2"]
    assert server.single_calls == 2  # the batch's one answer was kept
    assert not (tmp_path / "batch.json").exists()  # a rerun would submit a new batch, not poll the old one


def test_the_cache_tells_apart_two_models_served_under_one_name(tmp_path):
    cache = RequestCache(tmp_path / "cache")
    first = FakeChatServer(created=1)
    OpenAIChatModel(first, "m", cache=cache).chat(_requests(1)[0])
    OpenAIChatModel(first, "m", cache=cache).chat(_requests(1)[0])
    assert first.single_calls == 1  # same model: answered from the cache
    replaced = FakeChatServer(created=2)  # the name now serves another model
    OpenAIChatModel(replaced, "m", cache=cache).chat(_requests(1)[0])
    assert replaced.single_calls == 1
