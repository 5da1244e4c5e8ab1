"""Which failures the Ray executor retries: a worker that dies (system failure) is retried, a cell that raises
is not (it would raise again on the same store); checked on the options handed to Ray."""

import sys
import types

from sublearn.pipeline.ray_executor import RayExecutor


def test_only_system_failures_are_retried(monkeypatch):
    options: dict = {}
    fake = types.ModuleType("ray")

    def remote(**kwargs):
        options.update(kwargs)
        return lambda fn: types.SimpleNamespace(remote=lambda *a: object())

    fake.remote = remote
    fake.is_initialized = lambda: True
    fake.wait = lambda pending, num_returns: (pending, [])
    fake.get = lambda ref: {"cell": "c"}
    monkeypatch.setitem(sys.modules, "ray", fake)
    RayExecutor(max_retries=4).map(lambda cell: {}, [])
    assert options["max_retries"] == 4 and options["retry_exceptions"] is False
