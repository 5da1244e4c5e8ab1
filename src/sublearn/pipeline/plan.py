"""A dry run: every stage of a cell with its key, whether it is done, and what it would take, without running
anything (no model is loaded, no API key is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublearn.config.experiment import ExperimentSpec
from sublearn.pipeline.cell import BuiltCell, build_cell
from sublearn.pipeline.context import CellContext
from sublearn.pipeline.store import Artifact, ArtifactStore, Producer


@dataclass(frozen=True)
class PlannedStage:
    """One stage run a cell needs: its artifact ref, key configuration, inputs, and whether it exists already."""

    ref: str
    config: dict[str, Any]
    inputs: dict[str, str]
    done: bool


class PlanningStore(ArtifactStore):
    """A store that computes keys and records what would be built, and builds nothing."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.planned: dict[str, PlannedStage] = {}

    def build(self, stage: str, config: dict[str, Any], inputs: dict[str, Artifact | str], producer: Producer
              ) -> Artifact:
        """The finished artifact when there is one, else a placeholder with its key (nothing is produced)."""
        refs = {name: (a.ref if isinstance(a, Artifact) else str(a)) for name, a in inputs.items()}
        key = self.key(stage, config, refs)
        done = self.get(stage, key) if (self.root / "artifacts").is_dir() else None
        artifact = done or Artifact(stage, key, self.path(stage, key), {})
        self.planned.setdefault(artifact.ref, PlannedStage(artifact.ref, config, refs, done is not None))
        return artifact


def plan_cell(spec: ExperimentSpec, root: str | Path) -> tuple[BuiltCell, list[PlannedStage]]:
    """The cell's arms as they would be built into the run folder ``root``, and every stage it needs."""
    store = PlanningStore(root)
    built = build_cell(CellContext(spec, store))
    return built, list(store.planned.values())
