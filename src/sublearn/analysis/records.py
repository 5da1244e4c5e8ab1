"""The records a run writes, typed and versioned, and read and written here only: a cell's report
(``cells/ID/report.json``) and the run's summary (``summary.json``).

Each record names its shape's ``version``. A file written before versions existed (no ``version``) is version 0
and reads as the current version: the fields typed here were already there, so no migration changes a value.
Fields not typed here (a readout's per-token detail, an analysis table's rows) are kept as they are
(``extra="allow"``), so a reader loses nothing it does not know about. Reading checks the shape and names the
file and the field that is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sublearn.util.atomic import atomic_write_json
from sublearn.util.errors import DataError
from sublearn.util.jsonl import read_json

#: The shape's version this code writes.
RECORD_VERSION = 1


class Record(BaseModel):
    """A record: its typed fields checked, every other field kept."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="constants")


class ReadoutValue(Record):
    """One readout of one model in one cell: the mean over questions with its interval and n; per option
    (animal) where the readout has them, with the largest error of any (a pruned search's bound)."""

    mean: float | None = None
    ci95: list[float | None] | None = None
    n: int | None = None
    per_animal: dict[str, float | None] | None = None
    max_pruned_mass: float | None = None
    max_pruned_mass_any_animal: float | None = None
    n_samples: int | None = None  # a sampled readout's answers (its resolution is one of them)


class ArmRecord(Record):
    """One arm of one cell: the model (an artifact ref or a base's name), its evaluation, its readouts, and the
    defence applied to what it trained on."""

    model: str
    evaluation: str | None = None
    dataset: str | None = None  # the transform artifact a trained arm learned from
    metrics: dict[str, ReadoutValue] = Field(default_factory=dict)
    defence: str | None = None
    data_sha256: str | None = None  # the content of what it learned from (rows and soft targets)


class PairedComparison(Record):
    """Two arms of one cell compared over questions (paired)."""

    n: int
    mean_diff: float | None = None
    ci95: list[float | None] | None = None
    p_ttest: float | None = None


class CellReport(Record):
    """A cell's report: its spec, every arm, the datasets, bases and teachers it used, the within-cell
    comparisons, and its wall time; a failed cell has ``error`` and no arms."""

    version: int = RECORD_VERSION
    cell: str
    spec: dict[str, Any]
    arms: dict[str, ArmRecord] = Field(default_factory=dict)
    comparisons: dict[str, PairedComparison] = Field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = Field(default_factory=dict)  # label → ref, counts, filter stats
    bases: dict[str, Any] = Field(default_factory=dict)  # role → name, lineage check
    wall_seconds: float | None = None
    error: str | None = None


class OverSeeds(Record):
    """One readout of one arm over a group's replicates: each seed's value, their mean, interval and spread."""

    per_seed: list[float | None] = Field(default_factory=list)
    mean: float | None = None
    ci95: list[float | None] | None = None
    n: int = 0
    sd: float | None = None
    ci_over: str | None = None
    max_pruned_mass: float | None = None


class SeedTest(PairedComparison):
    """Two arms compared over replicates, paired by seed (``replicates`` names them), Holm-adjusted when secondary."""

    t: float | None = None
    p_wilcoxon: float | None = None
    n_first_greater: int | None = None
    replicates: list[int] | None = None
    p_holm: float | None = None
    undetermined: str | None = None  # why no p-value: values below their error bound


class Effect(Record):
    """A contrast over replicates (a shift, a gap fraction, an interaction): its mean, interval and tests; an
    interaction also carries its two sides (``same_base``, ``other_base``). ``undetermined`` says why it has no
    p-value (values below their error bound)."""

    estimate: float | None = None
    ci95: list[float | None] | None = None
    n: int | None = None
    per_replicate: list[float | None] | None = None
    n_positive: int | None = None
    p_ttest: float | None = None
    p_permutation: float | None = None
    p_sign: float | None = None
    min_attainable_p_permutation: float | None = None
    p_holm: float | None = None
    mean_diff: float | None = None  # a paired test's name for the estimate
    contrast: str | None = None
    undetermined: str | None = None
    same_base: Effect | None = None
    other_base: Effect | None = None


class AnimalShifts(Record):
    """One arm's shift against its baseline, per animal, on one readout."""

    metric: str
    baseline: str
    animals: dict[str, Effect] = Field(default_factory=dict)


class PrimaryResult(Record):
    """The declared primary test of a group: what was declared, its status (determined, undetermined, not
    computed, secondary group, not declared) with the reason, the test, what the design could detect at 80%
    power, and the teacher's own value of the contrast."""

    status: str
    declared: dict[str, Any] | None = None
    description: str = ""
    path: str | None = None
    reason: str | None = None
    test: Effect | None = None
    minimum_detectable_at_80pct_power: float | None = None
    teacher: dict[str, Any] | None = None
    relative_to_teacher: float | None = None


class SummaryGroup(Record):
    """A group of replicates (cells that differ by seed alone): the arms' readouts over seeds, the tests over
    seeds, the effects and the declared primary test."""

    spec: dict[str, Any]
    seeds: list[int]
    cells: list[str]
    arms: dict[str, dict[str, OverSeeds]] = Field(default_factory=dict)
    tests_over_seeds: dict[str, SeedTest] = Field(default_factory=dict)
    primary: PrimaryResult | None = None
    wall_seconds: float | None = None
    gap_fraction: dict[str, Effect] = Field(default_factory=dict)
    interaction: dict[str, Effect] = Field(default_factory=dict)
    target_shift: dict[str, dict[str, Effect]] = Field(default_factory=dict)  # readout → arm → shift
    target_interaction: dict[str, Effect] = Field(default_factory=dict)
    animal_shift: dict[str, AnimalShifts] = Field(default_factory=dict)  # arm → its per-animal shifts
    cross_model: dict[str, Any] | None = None
    identical_data: dict[str, list[int]] = Field(default_factory=dict)  # "arm-baseline" → replicates


class DoseRow(Record):
    """One other base of the dose-response: its distance from the reference, what its students and the teachers'
    base students pick up, and their interaction."""

    cross_model: str
    scale: float | None = None
    relative_distance: float | None = None
    other_base_effect: Effect
    same_base_effect: Effect
    interaction: Effect


class Summary(Record):
    """A run's summary: its groups, the dose-response over other bases, the failures, and the secondary family."""

    version: int = RECORD_VERSION
    groups: list[SummaryGroup]
    failures: list[Any] = Field(default_factory=list)
    n_cells: int | None = None
    secondary_family: dict[str, Any] | None = None
    dose_response: dict[str, list[DoseRow]] = Field(default_factory=dict)  # readout → row per other base


class DefenceRow(Record):
    """One defence against no defence, paired by replicate: the share of the undefended effect that remains (with
    its interval), the defended effect, the paired test, the same on the log-ratio scale and target-specific,
    each replicate's effects, and the cost (digit positions kept in the loss, positions changed, KL to the teacher)."""

    name: str
    n: int
    remaining_fraction: float | None = None
    ci95: list[float | None] | None = None
    effect: dict[str, Any] = Field(default_factory=dict)
    versus_undefended: dict[str, Any] = Field(default_factory=dict)
    log_ratio: dict[str, Any] | None = None
    target_specific: dict[str, Any] | None = None  # log ratio of the target minus its mean over the other animals
    per_replicate: dict[str, dict[str, float | None]] | None = None
    kept_fraction: float | None = None
    changed_fraction: float | None = None
    mean_kl_defended_to_teacher: float | None = None


class DefenceTable(Record):
    """An LM run's defence table (``sublearn defend table``) on one readout: the undefended effect and a row per
    defence."""

    version: int = RECORD_VERSION
    run: str
    readout: str
    effect: str  # what the effect is (student − its baseline, paired by replicate)
    baseline: dict[str, Any]  # the undefended effect: mean, ci95, n, teacher_gap
    defences: list[DefenceRow] = Field(default_factory=list)
    by: str = "defence"
    undefended: str | None = None
    family: dict[str, Any] | None = None  # the tests against no defence, Holm-corrected together: method, size


def _parse(cls: type[Record], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise DataError(f"{where}: not a {cls.__name__} (a JSON object)")
    version = data.get("version", 0)
    if not isinstance(version, int) or version > RECORD_VERSION:
        raise DataError(f"{where}: record version {version!r}; this sublearn reads versions up to "
                        f"{RECORD_VERSION} (upgrade sublearn)")
    try:
        return cls.model_validate({**data, "version": RECORD_VERSION} if "version" in cls.model_fields else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"])
        raise DataError(f"{where}: {field}: {first['msg']}") from exc


def as_dict(record: Record) -> dict[str, Any]:
    """A record as the JSON object it is written as (unset defaults left out, the version always in)."""
    out = record.model_dump(mode="json", exclude_unset=True)
    if "version" in type(record).model_fields:
        out["version"] = record.version  # type: ignore[attr-defined]
    return out


def parse_cell_report(data: Any, where: str) -> CellReport:
    """A cell report from its JSON object (``where`` names it in an error)."""
    return _parse(CellReport, data, where)


def as_cell_reports(reports: Sequence[CellReport | dict[str, Any]]) -> list[CellReport]:
    """Cell reports as records: those still JSON objects (just built, or from a test) are checked here."""
    return [r if isinstance(r, CellReport) else parse_cell_report(r, f"cell report {r.get('cell', '?')}")
            for r in reports]


def read_cell_report(path: Path, recover: str = "") -> CellReport:
    """A cell report from its file; a missing, corrupt or misshapen one is a :class:`DataError` naming it."""
    return parse_cell_report(read_json(path, recover), str(path))


def read_cell_reports(run: Path) -> list[CellReport]:
    """Every finished cell report of a run (``RUN/cells/ID/report.json``), in cell-id order."""
    recover = "delete it and rerun `sublearn run` to write it again (finished stages are reused)"
    return [read_cell_report(path, recover) for path in sorted(Path(run).glob("cells/*/report.json"))]


def write_cell_report(path: Path, report: CellReport | dict[str, Any]) -> Path:
    """Write a cell report atomically, checked and with its version."""
    record = report if isinstance(report, CellReport) else parse_cell_report(report, str(path))
    return atomic_write_json(path, as_dict(record))


def parse_summary(data: Any, where: str) -> Summary:
    """A run's summary from its JSON object (``where`` names it in an error)."""
    return _parse(Summary, data, where)


def read_summary(path: Path, recover: str = "") -> Summary:
    """A run's summary from its file; a missing, corrupt or misshapen one is a :class:`DataError` naming it."""
    return parse_summary(read_json(path, recover), str(path))


def write_summary(path: Path, summary: Summary | dict[str, Any]) -> Path:
    """Write a run's summary atomically, checked and with its version."""
    record = summary if isinstance(summary, Summary) else _parse(Summary, summary, str(path))
    return atomic_write_json(path, as_dict(record))


def parse_defence_table(data: Any, where: str) -> DefenceTable:
    """A defence table from its JSON object (``where`` names it in an error)."""
    return _parse(DefenceTable, data, where)


def read_defence_table(path: Path, recover: str = "") -> DefenceTable:
    """A defence table from its file; a missing, corrupt or misshapen one is a :class:`DataError` naming it."""
    return parse_defence_table(read_json(path, recover), str(path))


def write_defence_table(path: Path, table: DefenceTable) -> Path:
    """Write a defence table atomically, with its version."""
    return atomic_write_json(path, as_dict(table))
