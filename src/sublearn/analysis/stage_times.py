"""Where a run's time went: the seconds each artifact's stage took (from its manifest), summed by stage and by
the base model it worked on, and the wall time of each group from the run's summary."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sublearn.analysis.records import read_summary
from sublearn.util.errors import DataError


def stage_times(run: Path) -> dict[str, Any]:
    """Per (stage, base): artifacts, total and mean seconds, largest total first; the sum; each group's wall
    seconds. A folder without artifact manifests is a :class:`DataError`."""
    manifests = {}
    for path in sorted(run.glob("artifacts/*/*/manifest.json")):
        try:
            manifests[path.parent.relative_to(run / "artifacts").as_posix()] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable manifest ({exc})") from exc
    if not manifests:
        raise DataError(f"{run}: no artifacts/*/*/manifest.json here; is it a run folder (the --out of "
                        "`sublearn run`)?")
    seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    for data in manifests.values():
        model = data.get("inputs", {}).get("model")  # an evaluation: of a trained model or of a base
        base = data.get("base") or (manifests.get(model, {}).get("base", model) if model else None)
        seconds[(data["stage"], str(base or "-"))].append(float(data.get("seconds", 0.0)))
    rows = [{"stage": stage, "base": base, "n": len(s), "total_s": sum(s), "mean_s": sum(s) / len(s)}
            for (stage, base), s in sorted(seconds.items(), key=lambda kv: -sum(kv[1]))]
    summary = run / "summary.json"
    walls = [g.wall_seconds for g in read_summary(summary).groups] if summary.is_file() else []
    return {"run": str(run), "rows": rows, "artifacts": sum(r["n"] for r in rows),
            "total_s": sum(r["total_s"] for r in rows), "group_wall_s": walls}
