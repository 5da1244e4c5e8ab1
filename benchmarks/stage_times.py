"""Where a run's time went: seconds per stage, from the artifact manifests of a run folder.

Each artifact records the seconds its stage took (``manifest.json``); this sums them by stage and base model, and
prints the run's wall time from ``summary.json``. Use it after ``sublearn run`` to see what a spec costs, e.g.
the CPU demo's 30-minute budget:

    sublearn run configs/demo/owl-numbers-cpu.yaml --out runs/demo-timing
    python benchmarks/stage_times.py runs/demo-timing
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def stage_seconds(run: Path) -> dict[tuple[str, str], list[float]]:
    """Seconds of every artifact, grouped by (stage, base model or '-')."""
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    manifests = {path.parent.relative_to(run / "artifacts").as_posix(): json.loads(path.read_text())
                 for path in sorted(run.glob("artifacts/*/*/manifest.json"))}
    for data in manifests.values():
        model = data.get("inputs", {}).get("model")  # an evaluation: of a trained model or of a base
        base = data.get("base") or (manifests.get(model, {}).get("base", model) if model else None)
        out[(data["stage"], str(base or "-"))].append(float(data.get("seconds", 0.0)))
    return out


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (the --out of `sublearn run`)")
    args = parser.parse_args()
    table = stage_seconds(args.run)
    if not table:
        raise SystemExit(f"{args.run}: no artifacts/*/*/manifest.json here; is it a run folder?")
    print(f"{'stage':<10} {'base':<28} {'n':>3} {'total s':>9} {'mean s':>8}")
    for (stage, base), secs in sorted(table.items(), key=lambda kv: -sum(kv[1])):
        print(f"{stage:<10} {base[-28:]:<28} {len(secs):>3} {sum(secs):>9.1f} {sum(secs) / len(secs):>8.1f}")
    print(f"{'all':<10} {'':<28} {sum(len(s) for s in table.values()):>3} "
          f"{sum(sum(s) for s in table.values()):>9.1f}")
    summary = args.run / "summary.json"
    if summary.exists():
        walls = [g.get("wall_seconds") for g in json.loads(summary.read_text()).get("groups", [])]
        print("wall seconds per group (summary.json):", ", ".join(f"{w:.0f}" for w in walls if w is not None))


if __name__ == "__main__":
    main()
