"""Where the world demo's time goes: pretraining each sibling, then each channel's stages (teachers, generation,
digit targets, students, evaluations), from the demo's folder.

    python benchmarks/world_demo.py --run          # run `sublearn world demo` now (wall clock measured), then split it
    python benchmarks/world_demo.py --out runs/world   # split a finished demo's time

Pretraining is cached: a second demo reuses the siblings, so run it with a fresh SUBLEARN_HOME to time a first run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from sublearn.analysis.stage_times import stage_times
from sublearn.world.demo import CHANNEL_SPECS, TABLE_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/world"), help="the demo's output folder")
    parser.add_argument("--run", action="store_true", help="run the demo first and time it end to end")
    args = parser.parse_args()
    if args.run:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sublearn", "world", "demo", "--out", str(args.out), "--quiet"],
                       check=True)
        print(f"sublearn world demo: {time.perf_counter() - started:.0f} s wall clock, end to end")
    table = json.loads((args.out / TABLE_FILE).read_text())
    total = 0.0
    for sibling in table["pretraining"]:
        print(f"pretraining {sibling['model']:<8} {sibling['seconds']:7.0f} s  ({sibling['parameters']:,} parameters)")
        total += sibling["seconds"]
    for channel in CHANNEL_SPECS:
        times = stage_times(args.out / channel)
        by_stage: dict[str, float] = defaultdict(float)
        for row in times["rows"]:
            by_stage[row["stage"]] += row["total_s"]
        parts = ", ".join(f"{stage} {seconds:.0f}" for stage, seconds in
                          sorted(by_stage.items(), key=lambda kv: -kv[1]) if seconds >= 0.5)
        print(f"{channel:<20} {times['total_s']:7.0f} s  ({parts})")
        total += times["total_s"]
    print(f"{'all stages':<20} {total:7.0f} s  ({total / 60:.1f} min; pretraining is cached after the first run)")


if __name__ == "__main__":
    main()
