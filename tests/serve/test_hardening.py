"""`sublearn serve` against bad and hostile input: every cap, id, record and field is checked, the answer is an
OpenAI error body naming the field, and nothing is kept half-written."""

import json
import time

import pytest
from fastapi.testclient import TestClient

from sublearn.serve.app import create_app
from sublearn.serve.limits import Limits
from sublearn.serve.state import ServeState

CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
TRAINING = "".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                            {"role": "assistant", "content": "Owl"}]}) + "\n" for i in range(4))


def _client(state: ServeState) -> TestClient:
    return TestClient(create_app(state), raise_server_exceptions=False)


@pytest.fixture()
def state(tiny_model_dir, tmp_path):
    limits = Limits(max_upload_bytes=4096, max_body_bytes=2048, max_generated_tokens=64, max_list=5)
    return ServeState(bases={"tiny": str(tiny_model_dir)}, store=tmp_path / "store", limits=limits)


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read(state):
    client = _client(state)
    big = dict(CHAT, messages=[{"role": "user", "content": "x" * 5000}])
    assert _error(client.post("/v1/chat/completions", json=big), 413)["code"] == "request_too_large"


def test_an_upload_over_the_cap_is_refused_and_nothing_is_kept(state):
    client = _client(state)
    response = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("a.jsonl", b"x" * 5000)})
    assert response.status_code == 413
    assert list((state.store / "files").iterdir()) == []


def test_generation_over_the_token_cap_and_past_the_context_are_400s_naming_the_field(state):
    client = _client(state)
    assert _error(client.post("/v1/chat/completions", json=dict(CHAT, n=20, max_tokens=4)), 400)["param"] == "n"
    long = dict(CHAT, messages=[{"role": "user", "content": "owl " * 1000}], max_tokens=60)
    state.limits = Limits(max_generated_tokens=10_000)
    error = _error(_client(state).post("/v1/chat/completions", json=long), 400)
    assert error["code"] == "context_length_exceeded" and "2048" in error["message"]


@pytest.mark.parametrize(("field", "value"), [("temperature", 3), ("top_p", -1), ("max_tokens", 0),
                                              ("top_logprobs", 21), ("seed", -1), ("n", 1.5)])
def test_each_bad_sampling_field_is_named(state, field, value):
    error = _error(_client(state).post("/v1/chat/completions", json=dict(CHAT, **{field: value})), 400)
    assert error["message"].startswith(field)


def test_a_request_past_its_deadline_is_a_504(state):
    state.limits = Limits(request_timeout_s=0.0)
    assert _error(_client(state).post("/v1/chat/completions", json=dict(CHAT, max_tokens=32)), 504)["code"] \
        == "timeout"


def test_ids_are_never_paths(state):
    client = _client(state)
    for bad in ("..%2F..%2Fetc%2Fpasswd", "file-../../x", "file-0123"):
        assert client.get(f"/v1/files/{bad}").status_code == 404
    assert client.get("/v1/fine_tuning/jobs/ftjob-zz").status_code == 404
    error = _error(client.get("/v1/files/..%2F..%2Fetc%2Fpasswd"), 404)  # no route: still an OpenAI error body
    assert error["code"] == "not_found" and "no such endpoint" in error["message"]


def test_a_corrupt_record_is_skipped_in_lists_and_named_when_asked_for(state, capsys):
    client = _client(state)
    good = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", TRAINING)}).json()
    bad_id = "file-" + "0" * 24
    (state.store / "files" / f"{bad_id}.json").write_text("{not json")
    listed = client.get("/v1/files").json()["data"]
    assert [f["id"] for f in listed] == [good["id"]]
    assert bad_id in capsys.readouterr().err
    error = _error(client.get(f"/v1/files/{bad_id}"), 409)
    assert bad_id in error["message"] and "corrupt" in error["message"]


def test_files_can_be_deleted_and_listing_limits_are_checked(state):
    client = _client(state)
    made = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", TRAINING)}).json()
    assert client.get(f"/v1/files/{made['id']}/content").content == TRAINING.encode()
    assert client.delete(f"/v1/files/{made['id']}").json()["deleted"] is True
    assert client.get(f"/v1/files/{made['id']}").status_code == 404
    assert _error(client.get("/v1/fine_tuning/jobs?limit=6"), 400)["param"] == "limit"
    assert _error(client.get("/v1/fine_tuning/jobs?limit=x"), 400)["param"] == "limit"


@pytest.mark.parametrize(("change", "param"), [
    ({"model": "gpt-5"}, "model"),
    ({"hyperparameters": {"n_epochs": 0}}, "method.supervised.hyperparameters.n_epochs"),
    ({"hyperparameters": {"learning_rate_multiplier": "fast"}},
     "method.supervised.hyperparameters.learning_rate_multiplier"),
    ({"hyperparameters": {"warmup": 3}}, "method.supervised.hyperparameters"),
    ({"method": {"type": "dpo"}}, "method.type"),
    ({"suffix": "a/b"}, "suffix"),
    ({"seed": "one"}, "seed"),
    ({"training_file": "file-" + "1" * 24}, "training_file"),
])
def test_a_bad_job_is_refused_when_created_naming_the_field(state, change, param):
    client = _client(state)
    file_id = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", TRAINING)}
                          ).json()["id"]
    body = {"model": "tiny", "training_file": file_id, **change}
    error = _error(client.post("/v1/fine_tuning/jobs", json=body), 400)
    assert error["param"] == param
    assert list((state.store / "jobs").iterdir()) == []


def test_a_bad_training_line_is_named_when_the_job_is_created(state):
    client = _client(state)
    data = TRAINING + '{"messages": [{"role": "user", "content": "q"}]}\n'
    file_id = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", data)}).json()["id"]
    error = _error(client.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id}), 400)
    assert error["message"].endswith(f"training_file {file_id}:5: no assistant message")


def test_a_job_cut_off_by_a_restart_fails_with_the_reason(state, tiny_model_dir):
    job_id = "ftjob-" + "2" * 24
    state.jobs.records.save({"id": job_id, "status": "running", "created_at": 1})
    again = ServeState(bases={"tiny": str(tiny_model_dir)}, store=state.store)
    job = again.jobs.get(job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "server_restarted"


def test_cancelling_a_running_job_stops_its_training_process(tiny_model_dir, tmp_path):
    # 4,000 optimizer steps: minutes of training, so a job that ends within seconds of its cancel was stopped.
    state = ServeState(bases={"tiny": str(tiny_model_dir)}, store=tmp_path)
    client = _client(state)
    file_id = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", TRAINING * 10)}
                          ).json()["id"]
    job = client.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id,
                                                    "hyperparameters": {"n_epochs": 100, "batch_size": 1}}).json()
    deadline = time.monotonic() + 60
    while client.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(3)  # the child process is training by now
    started = time.monotonic()
    assert client.post(f"/v1/fine_tuning/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    state._queue.join()  # the worker is done with the job
    assert time.monotonic() - started < 15
    assert client.get(f"/v1/fine_tuning/jobs/{job['id']}").json()["status"] == "cancelled"
    assert not (state.store / "models" / job["id"]).exists()


def test_a_wrong_key_is_401(tiny_model_dir, tmp_path):
    state = ServeState(bases={"tiny": str(tiny_model_dir)}, store=tmp_path)
    client = TestClient(create_app(state, api_key="k1"))
    assert client.get("/v1/models", headers={"Authorization": "Bearer k2"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer k1"}).status_code == 200


@pytest.mark.parametrize(("method", "path", "body", "status", "needle"), [
    ("post", "/v1/fine_tuning/jobs", {"model": "tiny", "training_file": "/etc/passwd"}, 400, "training_file:"),
    ("post", "/v1/batches", {"endpoint": "/v1/chat/completions", "input_file_id": "../../x"}, 400,
     "input_file_id:"),
    ("post", "/v1/batches", {"endpoint": "/v1/embeddings", "input_file_id": "file-" + "0" * 24}, 400, "endpoint:"),
    ("post", "/v1/chat/completions", {"model": "tiny"}, 400, "messages:"),
    ("post", "/v1/chat/completions", [1, 2], 400, "must be a JSON object"),
    ("post", "/v1/chat/completions", b"{not json", 400, "not valid JSON"),
    ("post", "/v1/chat/completions", dict(CHAT, stream=True, logprobs=True), 400, "logprobs:"),
    ("post", "/v1/completions", {"model": "tiny", "prompt": "x", "echo": True}, 400, "echo:"),
    ("post", "/v1/chat/completions", dict(CHAT, model="gpt-9"), 404, "gpt-9"),
    ("delete", "/v1/files/file-" + "9" * 24, None, 404, "No such File object"),
    ("post", "/v1/fine_tuning/jobs/ftjob-" + "9" * 24 + "/cancel", None, 404, "No such fine-tuning job"),
])
def test_requests_naming_what_does_not_exist_or_is_not_served(state, method, path, body, status, needle):
    client = _client(state)
    if isinstance(body, bytes):
        response = client.request(method.upper(), path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.request(method.upper(), path, json=body)
    assert needle in _error(response, status)["message"]


def test_a_training_file_that_is_not_utf8_is_named_when_the_job_is_created(state):
    client = _client(state)
    data = b"\xff\xfe" + TRAINING.encode()
    file_id = client.post("/v1/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", data)}).json()["id"]
    error = _error(client.post("/v1/fine_tuning/jobs", json={"model": "tiny", "training_file": file_id}), 400)
    assert error["message"] == f"training_file {file_id}: not UTF-8 text (invalid start byte at byte 0)"


def test_sigterm_stops_the_server_promptly_with_a_long_generation_in_flight(tiny_model_dir, tmp_path):
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import threading
    import urllib.error
    import urllib.request

    from sublearn.serve.runner import free_port

    def get(path: str) -> int:
        with urllib.request.urlopen(f"{url}{path}", timeout=1) as response:
            return response.status

    def post(path: str, doc: dict) -> None:
        request = urllib.request.Request(f"{url}{path}", data=json.dumps(doc).encode(),
                                         headers={"content-type": "application/json"})
        with contextlib.suppress(OSError):  # the server goes away under it
            urllib.request.urlopen(request, timeout=300).read()

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-c", "from sublearn.cli.app import run; run()", "serve",
                               str(tiny_model_dir), "--port", str(port), "--store", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
            try:
                if get("/models") == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        # 32 × 2,000 tokens: minutes of generation on a CPU.
        body = {"model": str(tiny_model_dir), "messages": [{"role": "user", "content": "Count."}], "n": 32,
                "max_tokens": 2000, "temperature": 1.0, "seed": 1}
        threading.Thread(target=post, args=("/chat/completions", body), daemon=True).start()
        time.sleep(2)
        assert server.poll() is None
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.monotonic() - stopped < 15
    finally:
        if server.poll() is None:
            server.kill()
