"""A grid on a real local Ray cluster started by the test (3 worker slots on this machine), through the real CLI,
with an fsspec store; one worker is killed mid-cell. The grid completes, no cell is lost or finished twice."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from factories import NO_CONTROLS, spec_doc
from sublearn.serve.runner import free_port

RAY = Path(sys.executable).parent / "ray"


@pytest.fixture()
def ray_cluster():
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=3", "--include-dashboard=false",
                    "--disable-usage-stats", f"--temp-dir={temp}"], check=True, env=env, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:  # stopped in the background while the suite goes on (nothing else uses Ray)
        subprocess.Popen([str(RAY), "stop", "--force"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)


def _attempts(shared: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in shared.glob("cells/*/attempts/*.json"):
        try:
            out.setdefault(path.parent.parent.name, []).append(json.loads(path.read_text()))
        except ValueError:
            continue  # being written
    return out


def test_grid_on_a_ray_cluster_survives_a_killed_worker(ray_cluster, tiny_model_dir, tmp_path):
    spec = {**spec_doc(tiny_model_dir, name="ray-grid", trait={"target": ["owl", "cat"]},
                       carrier={"n_prompts": 16, "max_new_tokens": 16, "filter": {"max_examples": 8}},
                       train={"epochs": 1, "batch_size": 4}, eval={"samples_per_question": 0},
                       controls={**NO_CONTROLS, "control_teacher": True}), "seeds": [0, 1]}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    shared = tmp_path / "shared"
    command = [sys.executable, "-c", "from sublearn.cli.app import run; run()", "run", str(spec_path), "--out",
               str(tmp_path / "run"), "--executor", "ray", "--address", ray_cluster, "--store", shared.as_uri(),
               "--retries", "3", "--quiet"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    killed = None
    deadline = time.monotonic() + 240
    while killed is None:  # kill the worker of the first cell seen running, mid-cell
        assert driver.poll() is None and time.monotonic() < deadline, driver.stdout.read()
        running = [a for attempts in _attempts(shared).values() for a in attempts if a["finished"] is None]
        if running:
            time.sleep(1.0)  # let it get into its stages
            target = running[0]
            os.kill(target["pid"], signal.SIGKILL)
            killed = target
        time.sleep(0.05)
    output, _ = driver.communicate(timeout=400)
    assert driver.returncode == 0, output
    attempts = _attempts(shared)
    assert len(attempts) == 4  # every cell ran
    for cell, records in attempts.items():
        assert sum(r["finished"] is not None for r in records) == 1, (cell, records)  # finished exactly once
        assert (shared / "cells" / cell / "report.json").is_file()
    killed_cell = next(c for c, rs in attempts.items() if any(r["attempt"] == killed["attempt"] for r in rs))
    assert len(attempts[killed_cell]) == 2  # killed, then retried on another worker
    assert len({r["pid"] for rs in attempts.values() for r in rs}) >= 3  # several workers on this machine
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["failures"] == [] and summary["n_cells"] == 4
    # The shared store holds each artifact once, complete (manifest written last).
    for manifest in shared.glob("artifacts/*/*/manifest.json"):
        assert json.loads(manifest.read_text())["key"] == manifest.parent.name
    # A rerun finds every cell finished and submits nothing.
    rerun = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert rerun.returncode == 0 and "4 of 4 cell(s) already finished" in rerun.stdout
    assert len(_attempts(shared)) == 4 and sum(len(v) for v in _attempts(shared).values()) == 5
