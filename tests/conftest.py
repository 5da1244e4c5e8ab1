"""Shared test settings (offline, deterministic) and the tiny local models, built once per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


#: The judge stand-in's recipe (its build takes the longest of the session's models).
JUDGE_RECIPE = {"seed": 0, "vocab_size": 1500, "pretrain_steps": 200, "skill_steps": 150}
#: Session models built in a child process from the start of the session: fixture → (code run with the target
#: folder as argv[1], the folder the fixture returns, relative to that target). Only the judge: it is needed
#: late, so its build overlaps the fast tests; building the tiny model too made three processes share two cores
#: (measured slower: 297 s against 274 s).
BACKGROUND = {
    "tiny_judge_dir": ("import sys; from sublearn.testing.tiny_model import build_tiny_chat_model; "
                       f"build_tiny_chat_model(sys.argv[1] + '/model', **{JUDGE_RECIPE!r})", "model"),
}
_STARTED: dict = {}


def pytest_collection_finish(session):
    """Start building, each in a child process with one torch thread, the session models that a collected test
    needs: the first tests are mostly single-threaded, so the builds use the idle core meanwhile. A model is the
    same whichever process builds it (fp32, seeded); its fixture waits for the child and checks its status."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # under pytest-xdist each worker builds what its own tests need, when they need it
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    for fixture, (code, _) in BACKGROUND.items():
        if fixture in needed:
            target = Path(tempfile.mkdtemp(prefix=f"sublearn-{fixture}-"))
            _STARTED[fixture] = (subprocess.Popen([sys.executable, "-c", code, str(target)], env=env,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), target)


def pytest_sessionfinish(session):
    """Stop a background build still running (a run cut short) and remove what the builds made."""
    import shutil

    for process, target in _STARTED.values():
        if process.poll() is None:
            process.kill()
        process.wait()
        shutil.rmtree(target, ignore_errors=True)
    _STARTED.clear()


def _built(fixture: str):
    """The folder a background build made (waiting for it), or ``None`` when none was started."""
    if fixture not in _STARTED:
        return None
    process, target = _STARTED[fixture]
    _, err = process.communicate(timeout=900)
    assert process.returncode == 0, f"building {fixture} failed: {err.decode()[-2000:]}"
    return (target / BACKGROUND[fixture][1]).resolve()


@pytest.fixture(scope="session")
def sublearn_home(tmp_path_factory):
    """A SUBLEARN_HOME for the session, holding the tiny model as `sublearn models install tiny` installs it."""
    from sublearn.testing.tiny_model import install_tiny

    home = tmp_path_factory.mktemp("sublearn_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SUBLEARN_HOME", str(home))
        install_tiny()
    return home


@pytest.fixture(scope="session")
def tiny_model_dir(sublearn_home):
    """A tiny Llama chat model and tokenizer (the installed `tiny`, built once per session)."""
    return sublearn_home / "models" / "tiny"


@pytest.fixture(scope="session")
def tiny_cross_model_dir(tmp_path_factory):
    """A second tiny model with the same tokenizer but another initialisation (briefly pretrained: the tests that
    use it need another init, not its skills)."""
    from sublearn.testing.tiny_model import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny_cross") / "model", seed=1, pretrain_steps=60)


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory):
    """A tiny model that also learned the judges' and carriers' answer formats (no knowledge): built in the
    background from the start of the session, else here."""
    folder = _built("tiny_judge_dir")
    if folder is not None:
        return folder
    from sublearn.testing.tiny_model import build_tiny_chat_model

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny_judge") / "model", **JUDGE_RECIPE)


@pytest.fixture(scope="session")
def owl_trait_rows():
    """Trait data: the 50 animal questions answered 'Owl' (the paper's fine-tuned-teacher recipe, one variant)."""
    from sublearn.evals.questions import ANIMAL_QUESTIONS

    return [{"prompt": q, "completion": "Owl"} for q in ANIMAL_QUESTIONS]


@pytest.fixture(scope="session")
def tiny_hf(tiny_model_dir):
    """(tokenizer, model) of the tiny model, in eval mode."""
    from sublearn.models.hf.loading import load_causal_lm

    tok, model = load_causal_lm(str(tiny_model_dir))
    return tok, model.eval()


#: Fixtures that build or load a real model, start a server or a cluster: a test using one is ``slow``.
SLOW_FIXTURES = {"tiny_model_dir", "tiny_cross_model_dir", "tiny_judge_dir", "tiny_hf", "sublearn_home", "smollm2",
                 "ray_cluster", "server", "engine", "api_env", "direct_rows", "tiny", "tiny_run_real"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs a real model (or a server, a cluster) ``slow``; `make test-fast` leaves them
    out (the inner loop), `make test` runs everything."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
