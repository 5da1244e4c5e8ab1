"""The world demo: pretrain the two siblings (cached), run the hard-label and the soft-digit spec on them, and
tabulate both channels against both initialisations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path

from sublearn.config.grid import load_spec_file
from sublearn.pipeline.grid import LocalExecutor, record_invocation, run_grid
from sublearn.pipeline.store import ArtifactStore
from sublearn.util.atomic import atomic_write_json
from sublearn.util.progress import ProgressFn, no_progress
from sublearn.world.channels import ChannelRow, channel_table
from sublearn.world.corpus import CorpusConfig
from sublearn.world.pretrain import WorldModelConfig, ensure_world_model

#: The siblings every world spec names: the teachers' initialisation and the other one.
SIBLINGS = (("world-a", 0), ("world-b", 1))
#: The demo's specs, by the folder each runs into under the demo's output folder.
CHANNEL_SPECS = {"hard": "owl-numbers-hard.yaml", "soft": "owl-numbers-soft.yaml"}
#: The table the demo writes into its output folder.
TABLE_FILE = "world-channels.json"


def world_spec(name: str) -> Path:
    """A spec packaged with sublearn for the world demo (``owl-numbers-hard.yaml`` or ``owl-numbers-soft.yaml``)."""
    return Path(str(files("sublearn") / "assets" / "world" / name))


def sibling_configs(hidden: int = 256, layers: int = 4, chats: int = 8_000, epochs: float = 1.0
                    ) -> dict[str, WorldModelConfig]:
    """The two siblings' settings: equal in everything but the initialisation seed."""
    return {name: WorldModelConfig(hidden=hidden, layers=layers, epochs=epochs, init_seed=seed,
                                   corpus=CorpusConfig(n_chats=chats)) for name, seed in SIBLINGS}


def run_world_demo(out: Path, models: Path, siblings: dict[str, WorldModelConfig],
                   overrides: Sequence[str] = (), progress: ProgressFn = no_progress,
                   log: Callable[[str], None] = lambda _: None) -> tuple[list[ChannelRow], list[dict[str, str]]]:
    """Build the siblings that are not built yet, run each channel's spec into ``out/CHANNEL`` (resumable, like
    every run) and write ``out/world-channels.json``. Returns the table's rows (a channel whose replicates all
    failed has none) and the failed cells, each with its channel and error."""
    pretraining = []
    for name, config in siblings.items():
        record, built = ensure_world_model(name, config, models, progress=progress)
        log(f"{name}: {'built' if built else 'cached'} ({record['parameters']:,} parameters, "
            f"{record['seconds']:.0f} s of pretraining)")
        pretraining.append({"model": name, "key": record["key"], "parameters": record["parameters"],
                            "seconds": record["seconds"]})
    folders: list[Path] = []
    failures: list[dict[str, str]] = []
    for channel, spec_name in CHANNEL_SPECS.items():
        spec = world_spec(spec_name)
        cells = load_spec_file(spec, list(overrides))
        folder = out / channel
        folder.mkdir(parents=True, exist_ok=True)
        record_invocation(folder, spec, list(overrides), len(cells))
        log(f"{channel}: {len(cells)} replicate(s) → {folder}")
        summary = run_grid(cells, folder, LocalExecutor(), progress, log=log, store=ArtifactStore(folder))
        failures += [{"channel": channel, **failure} for failure in summary["failures"]]
        folders.append(folder)
    rows = channel_table(folders)
    atomic_write_json(out / TABLE_FILE, {"pretraining": pretraining, "failures": failures,
                                         "rows": [row.model_dump(mode="json") for row in rows]})
    return rows, failures
