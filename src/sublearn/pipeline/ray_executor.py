"""Grid cells as Ray tasks: ``sublearn run SPEC --executor ray [--address ADDR]``.

Each cell is one task that declares its resources (CPUs, GPUs). A task whose worker or node dies (a system
failure) is retried up to ``max_retries`` times; a task that raises is reported as failed at once, since the
same cell on the same store would raise again. Either way the other cells go on. Cells share the artifact
store, so a retried cell reuses every stage it finished before, and a cell whose report exists is never
submitted again (see :func:`sublearn.pipeline.grid.run_grid`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sublearn.config.experiment import ExperimentSpec
from sublearn.pipeline.grid import CellFn


def _run_cell(fn: CellFn, cell_json: dict[str, Any]) -> dict[str, Any]:
    return fn(ExperimentSpec(**cell_json))


class RayExecutor:
    """Runs cells as Ray tasks on the cluster at ``address`` (``None``: a local one started for the run)."""

    def __init__(self, address: str | None = None, cpus_per_cell: float = 1.0, gpus_per_cell: float = 0.0,
                 max_retries: int = 3, on_cell_done: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        self.max_retries = max_retries
        self.on_cell_done = on_cell_done

    def map(self, fn: CellFn, cells: Sequence[ExperimentSpec]) -> list[dict[str, Any]]:
        """Submit every cell, then collect results as they finish (in the cells' order)."""
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                     include_dashboard=False if self.address is None else None)
        try:
            task = ray.remote(num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell,
                              max_retries=self.max_retries, retry_exceptions=False)(_run_cell)
            refs = {task.remote(fn, cell.model_dump(mode="json")): i for i, cell in enumerate(cells)}
            results: list[dict[str, Any]] = [{} for _ in cells]
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    i = refs[ref]
                    try:
                        results[i] = ray.get(ref)
                    except Exception as exc:  # retries are spent: report the cell, keep the others
                        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                        results[i] = {"cell": cells[i].cell_id(), "error": f"{type(exc).__name__}: {message}"}
                    if self.on_cell_done:
                        self.on_cell_done(cells[i].cell_id(), results[i])
            return results
        finally:
            if started_here:
                ray.shutdown()
