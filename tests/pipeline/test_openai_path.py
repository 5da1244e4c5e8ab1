"""The OpenAI path end to end: the `openai` backend, through the real `openai` client, against `sublearn serve` on
a tiny local model (a real HTTP server on 127.0.0.1), with fine-tuning jobs, the Batch API, faults and a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from factories import merge
from sublearn.config.grid import expand_grid
from sublearn.pipeline.grid import run_grid
from sublearn.serve.app import create_app
from sublearn.serve.runner import start_in_thread
from sublearn.serve.state import ServeState
from sublearn.util.jsonl import read_jsonl

SECRET = "sk-sublearn-test-SECRET-4242"


class FaultInjector:
    """ASGI middleware in front of the server: counts requests per path, and on chat completions answers some
    with 429 or 500, or drops the connection half-way through the response body (after the server did the work)."""

    def __init__(self, app):
        self.app = app
        self.counts = Counter()
        self.served = Counter()
        self.faults_on = False
        self.injected = Counter()

    def fault_for(self, index: int) -> str | None:
        if not self.faults_on:
            return None
        return {2: "429", 5: "500", 8: "drop"}.get(index % 9)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        self.counts[path] += 1
        fault = self.fault_for(self.counts[path]) if path == "/v1/chat/completions" else None
        if fault in ("429", "500"):
            self.injected[fault] += 1
            body = json.dumps({"error": {"message": f"injected {fault}", "type": "server_error"}}).encode()
            await send({"type": "http.response.start", "status": int(fault),
                        "headers": [(b"content-type", b"application/json"), (b"retry-after-ms", b"1"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if fault == "drop":
            self.injected["drop"] += 1
            messages = []

            async def capture(message):
                messages.append(message)

            await self.app(scope, receive, capture)
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            start = next(m for m in messages if m["type"] == "http.response.start")
            await send(start)
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionAbortedError("injected: connection dropped mid-response")
        if path == "/v1/chat/completions":
            self.served[path] += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    state = ServeState(bases={"tiny": str(tiny_model_dir)}, store=tmp_path_factory.mktemp("serve-store"))
    injector = FaultInjector(create_app(state, api_key=SECRET))
    running = start_in_thread(injector)
    yield {"url": running.url, "faults": injector, "state": state}
    running.stop()


@pytest.fixture()
def api_env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server["faults"].faults_on = False
    return server


def _doc(url, **over):
    doc = {
        "name": "api-owl",
        "reference": "tiny",
        "backend": "openai",
        "api": {"base_url": url, "concurrency": 2, "max_retries": 6, "timeout_s": 60, "poll_s": 0.1},
        "trait": {"kind": "fine_tuned", "target": "owl", "teacher_training": {"api": {"n_epochs": 1}}},
        "carrier": {"n_prompts": 24, "batch_size": 6, "max_new_tokens": 24,
                    "filter": {"max_examples": 16}},
        "train": {"api": {"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 5}},
        "eval": {"animals": ["owl", "cat"], "exact": False, "prefilled": False, "mcq_orderings": 1,
                 "samples_per_question": 2, "max_new_tokens": 6, "questions": "held_out"},
        "controls": {"placebo": True, "control_teacher": False, "icl_k": 2},
    }
    return merge(doc, **over)


def test_whole_owl_numbers_pipeline_through_the_api_with_fine_tuning_jobs_and_batches(api_env, tmp_path):
    """Teachers and students made by fine-tuning jobs, data and answers through the Batch API; the API key reaches
    no file (the arms logic itself is tested on the fake backend, tests/pipeline/test_pipeline.py)."""
    cells = expand_grid(_doc(api_env["url"], api={"batch": True}, controls={"placebo": False},
                             eval={"samples_per_question": 1}))
    summary = run_grid(cells, tmp_path)
    assert summary["failures"] == [], summary["failures"]
    arms = summary["groups"][0]["arms"]
    assert set(arms) == {"reference", "teacher", "student", "icl"}
    for arm in arms.values():
        assert set(arm) == {"sampled_rate", "mcq"}
        assert 0 <= arm["sampled_rate"]["mean"] <= 1 and arm["sampled_rate"]["n"] == 25
    report = json.loads((tmp_path / "cells" / cells[0].cell_id() / "report.json").read_text())
    # The teacher and both students are models made by fine-tuning jobs on the server, recorded in manifests.
    for stage_dir in ("teacher", "train"):
        for manifest_path in (tmp_path / "artifacts" / stage_dir).glob("*/manifest.json"):
            manifest = json.loads(manifest_path.read_text())
            assert manifest["model_id"].startswith("ft:tiny:sublearn:")
            assert manifest["job_id"].startswith("ftjob-")
            assert manifest["config"]["server"] == api_env["url"]
    jobs = api_env["state"].jobs.list()
    assert sum(j["status"] == "succeeded" for j in jobs) >= 2  # the teacher and the student
    assert report["datasets"]["trait"]["n_in"] == 24
    served = {m for m in api_env["state"].models.ids()}
    student = json.loads((tmp_path / "artifacts" / report["arms"]["student"]["model"] / "manifest.json").read_text())
    assert student["model_id"] in served and student["hyperparameters"]["n_epochs"] == 1
    # The uploaded training file is kept in the artifact, one line per training row, and named in its manifest.
    kept = tmp_path / "artifacts" / report["arms"]["student"]["model"] / "training_file.jsonl"
    rows = (tmp_path / "artifacts" / report["arms"]["student"]["dataset"] / "rows.jsonl").read_text().splitlines()
    assert len(kept.read_text().splitlines()) == len(rows) and "training_file.jsonl" in student["files"]
    _assert_no_secret(tmp_path)
    _assert_no_secret(api_env["state"].store)
    assert "batch.json" not in {p.name for p in tmp_path.rglob("*")}  # finished batches leave no state behind


def _generation_doc(url, **api):
    return _doc(url, trait={"kind": "system_prompt"}, controls={"placebo": False, "control_teacher": False, "icl_k": 0},
                eval={"samples_per_question": 0, "mcq_orderings": 1}, api=api)


@pytest.fixture(scope="module")
def direct_rows(server, tmp_path_factory):
    """The teacher data of the generation spec, by single requests without faults (what the others must equal)."""
    out = tmp_path_factory.mktemp("direct")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        assert run_grid(expand_grid(_generation_doc(server["url"])), out)["failures"] == []
    return read_jsonl(next((out / "artifacts" / "generate").glob("*/rows.jsonl")))


def test_faults_are_survived_by_retries_and_nothing_is_lost_or_duplicated(api_env, direct_rows, tmp_path):
    url = api_env["url"]
    faults = api_env["faults"]
    faults.faults_on = True
    faults.injected.clear()
    run = expand_grid(_generation_doc(url, concurrency=3))
    summary = run_grid(run, tmp_path / "faulty")
    faults.faults_on = False
    assert summary["failures"] == []
    assert faults.injected["429"] > 0 and faults.injected["500"] > 0 and faults.injected["drop"] > 0
    rows_clean = direct_rows
    rows_faulty = read_jsonl(next((tmp_path / "faulty" / "artifacts" / "generate").glob("*/rows.jsonl")))
    assert [r["prompt"] for r in rows_faulty] == [r["prompt"] for r in rows_clean]  # each prompt once, in order
    assert rows_faulty == rows_clean  # same seeds, same completions: nothing lost, duplicated or mixed up


def _run_cli(spec_path, out, env):
    return subprocess.Popen([sys.executable, "-c", "from sublearn.cli.app import run; run()", "run", str(spec_path),
                             "--out", str(out), "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_a_killed_run_resumes_from_the_request_cache(api_env, tmp_path):
    url = api_env["url"]
    doc = _generation_doc(url, concurrency=1)
    doc["carrier"]["n_prompts"] = 40
    doc["carrier"]["batch_size"] = 20
    doc["carrier"]["max_new_tokens"] = 12  # short answers: the test is about requests, not their length
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "OPENAI_API_KEY": SECRET}
    counts = api_env["faults"].served
    before = counts["/v1/chat/completions"]
    assert run_grid(expand_grid(doc), tmp_path / "clean")["failures"] == []  # in this process: the CLI is below
    needed = counts["/v1/chat/completions"] - before  # every request of an uninterrupted run
    before = counts["/v1/chat/completions"]
    proc = _run_cli(spec_path, tmp_path / "run", env)
    deadline = time.monotonic() + 120
    while counts["/v1/chat/completions"] - before < 20:  # mid-generation: 20 of 40 prompts answered
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cached = len(list((tmp_path / "run" / "api_cache").glob("*/*.json")))
    assert 15 <= cached < 40  # the requests in flight at the kill were answered but never cached
    assert not list((tmp_path / "run" / "artifacts").glob("generate/*/rows.jsonl"))  # no half-written artifact
    before_rerun = counts["/v1/chat/completions"]
    rerun = _run_cli(spec_path, tmp_path / "run", env)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert counts["/v1/chat/completions"] - before_rerun == needed - cached  # the cache served what was done
    rows = read_jsonl(next((tmp_path / "run" / "artifacts" / "generate").glob("*/rows.jsonl")))
    assert rows == read_jsonl(next((tmp_path / "clean" / "artifacts" / "generate").glob("*/rows.jsonl")))
    # The API key never reaches a file the tool wrote, nor its output.
    assert SECRET not in output
    _assert_no_secret(tmp_path / "run")


def _assert_no_secret(folder: Path):
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"API key written to {path}"


def test_batch_api_gives_the_same_generations_as_single_requests(api_env, direct_rows, tmp_path):
    batched = expand_grid(_generation_doc(api_env["url"], batch=True))
    batches_before = api_env["faults"].counts["/v1/batches"]
    run_grid(batched, tmp_path / "batched")
    assert api_env["faults"].counts["/v1/batches"] == batches_before + 1
    b = read_jsonl(next((tmp_path / "batched" / "artifacts" / "generate").glob("*/rows.jsonl")))
    assert direct_rows == b


def test_a_fine_tuning_job_is_resumed_not_created_twice(api_env, tmp_path):
    from sublearn.config.api import ApiConfig
    from sublearn.models.openai.client import make_client
    from sublearn.models.openai.finetune import hyperparameters, run_fine_tuning_job

    client = make_client(ApiConfig(base_url=api_env["url"]))
    rows = [{"prompt": "Name your favorite animal using only one word.", "completion": "Owl"}] * 8
    hyper = hyperparameters(1, "auto", 4)
    first = run_fine_tuning_job(client, "tiny", rows, hyper, tmp_path / "a", key="resume-test", poll_s=0.05)
    # A crash after the job was created but before its id was saved: the job is found by its tag.
    second = run_fine_tuning_job(client, "tiny", rows, hyper, tmp_path / "b", key="resume-test", poll_s=0.05)
    assert second["job_id"] == first["job_id"]
    assert len(api_env["state"].jobs.list({"sublearn_key": "resume-test"})) == 1


def test_server_refuses_bad_requests_with_the_field_named(api_env):
    import openai

    client = openai.OpenAI(base_url=api_env["url"], api_key=SECRET, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], temperature=7)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=api_env["url"], api_key="wrong", max_retries=0).models.list()
    response = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], n=3,
                                              seed=1, max_tokens=4, logprobs=True, top_logprobs=3)
    assert len(response.choices) == 3
    first = response.choices[0].logprobs.content[0]
    assert len(first.top_logprobs) == 3 and first.logprob <= 0
    assert first.top_logprobs[0].logprob >= first.top_logprobs[-1].logprob
    again = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], n=3,
                                           seed=1, max_tokens=4)
    assert [c.message.content for c in again.choices] == [c.message.content for c in response.choices]


def test_openai_backend_spec_rejects_token_level_readouts():
    from sublearn.util.errors import ConfigError

    with pytest.raises(ConfigError, match=r"eval\.exact"):
        expand_grid(_doc("http://127.0.0.1:9/v1", eval={"exact": True}))


def test_serve_command_names_a_model_it_cannot_load(tmp_path):
    from typer.testing import CliRunner

    from sublearn.cli.app import app

    result = CliRunner().invoke(app, ["serve", "no-such-model", "--store", str(tmp_path)])
    assert result.exit_code == 2
    assert "no-such-model" in result.output and "Traceback" not in result.output
