"""``sublearn verify``: check a run folder's artifacts against their manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import AsJson, console, print_json, run_logged, user_errors


@user_errors
@run_logged("run_dir", "verify", existing=True)
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `sublearn run`.")],
    sizes_only: Annotated[bool, typer.Option("--sizes-only", help="Check file sizes only (fast; no hashing).",
                                             show_default="off")] = False,
    as_json: AsJson = False,
) -> None:
    """Check every artifact of RUN_DIR: its manifest is its own, and each file has the size and sha256 the manifest
    recorded when it was built. Also checks each cell report. Exits 1 when anything is wrong, naming each problem
    and how to recover (move the artifact away; the next `sublearn run` rebuilds it)."""
    from rich.table import Table

    from sublearn.pipeline.integrity import StoreError
    from sublearn.pipeline.store import ArtifactStore
    from sublearn.util.errors import DataError

    if not (run_dir / "artifacts").is_dir():
        raise DataError(f"{run_dir}: no artifacts folder; is it a run folder (sublearn run SPEC --out {run_dir})?")
    store = ArtifactStore(run_dir, note=lambda _: None)
    bad = store.verify(hashes=not sizes_only)
    checked = len(store.artifacts())
    cells = sorted(p.parent.name for p in (run_dir / "cells").glob("*/report.json"))
    for cell_id in cells:
        try:
            store.read_cell_report(cell_id)
        except StoreError as exc:
            bad[f"cells/{cell_id}"] = [str(exc)]
    if as_json:
        print_json({"run": str(run_dir), "checked": {"artifacts": checked, "cell_reports": len(cells)},
                    "what": "sizes" if sizes_only else "sizes and sha256", "problems": bad, "ok": not bad})
        if bad:
            raise typer.Exit(code=1)
        return
    if bad:
        table = Table(title=f"{len(bad)} problem(s) in {run_dir}", show_lines=True)
        table.add_column("artifact")
        table.add_column("problem")
        for ref, problems in bad.items():
            table.add_row(ref, "\n".join(problems))
        console.print(table)
    what = "sizes" if sizes_only else "sizes and sha256"
    console.print(f"{checked} artifact(s) and {len(cells)} cell report(s) checked ({what}): "
                  f"{checked + len(cells) - len(bad)} ok, {len(bad)} with problems", highlight=False)
    if bad:
        raise typer.Exit(code=1)
