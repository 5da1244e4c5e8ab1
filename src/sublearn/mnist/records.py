"""The MNIST defence table (``sublearn defend mnist``'s ``results.json``), typed and versioned, and read and
written here only. A file written before versions existed (no ``version``) is version 0 and reads as the current
version: the fields typed here were already there. Fields not typed here are kept as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sublearn.util.atomic import atomic_write_json
from sublearn.util.errors import DataError
from sublearn.util.jsonl import read_json

#: The shape's version this code writes.
TABLE_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")


class MeanCI(_Record):
    """A mean over models with its 95% t-interval, n and spread (and, where kept, each model's value)."""

    mean: float | None
    ci95: list[float | None]
    n: int
    sd: float | None = None
    per_model: list[float] | None = None


class MnistDefenceRow(_Record):
    """One defence against no defence, over the same models: the share of the undefended effect that remains
    (with its interval), the defended effect and accuracy, the paired test, and the costs (data kept, the
    student's agreement with and divergence from its teacher's auxiliary outputs)."""

    name: str
    kind: str
    value: float | None = None
    description: str
    remaining_fraction: float | None
    ci95: list[float | None]
    ci_method: str
    effect: MeanCI
    accuracy: MeanCI
    versus_undefended: dict[str, Any]
    data_kept: float
    aux_agreement: MeanCI
    aux_kl: MeanCI


class MnistBaseline(_Record):
    """The undefended students' effect (each model's, their mean and interval), accuracy and fidelity."""

    effect: float
    ci95: list[float | None]
    n: int
    per_model: list[float]
    accuracy: MeanCI
    aux_agreement: MeanCI
    aux_kl: MeanCI


class MnistDefenceTable(_Record):
    """``sublearn defend mnist``'s results: the settings, the undefended baseline, a row per defence, every arm's
    per-model accuracies, the other-init permutation, and where and how long it ran."""

    version: int = TABLE_VERSION
    experiment: str = "mnist_defences"
    config: dict[str, Any]
    effect_definition: str
    baseline: MnistBaseline
    defences: list[MnistDefenceRow]
    accuracies: dict[str, list[float]]
    cross_permutation: list[int]
    wall_seconds: float
    environment: dict[str, Any]
    artifacts: dict[str, str] = Field(default_factory=dict)


def table_dict(table: MnistDefenceTable) -> dict[str, Any]:
    """The table as the JSON object it is written as (unset optional fields left out, the version first)."""
    out = table.model_dump(mode="json", exclude_unset=True)
    out.pop("version", None)
    return {"version": table.version, **out}


def parse_mnist_defence_table(data: Any, where: str) -> MnistDefenceTable:
    """A defence table from its JSON object; a wrong shape or a newer version is one error naming ``where``."""
    if not isinstance(data, dict):
        raise DataError(f"{where}: not a JSON object")
    version = data.get("version", 0)
    if not isinstance(version, int) or version > TABLE_VERSION:
        raise DataError(f"{where}: table version {version!r}; this sublearn reads versions up to {TABLE_VERSION} "
                        "(upgrade sublearn)")
    try:
        return MnistDefenceTable.model_validate({**data, "version": TABLE_VERSION})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{where}: {field}: {first['msg']}") from None


def read_mnist_defence_table(path: Path) -> MnistDefenceTable:
    """Read ``sublearn defend mnist``'s ``results.json``."""
    return parse_mnist_defence_table(read_json(path), str(path))


def write_mnist_defence_table(path: Path, table: MnistDefenceTable) -> Path:
    """Write the table atomically, with its version."""
    atomic_write_json(path, table_dict(table))
    return path
