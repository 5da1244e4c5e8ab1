"""Spec files and grids. A spec file is one experiment plus optionally ``seeds: [...]`` and lists of values: a
list given for a field that takes one value (``train: {lr: [1e-4, 2e-4]}``) or a ``grid:`` mapping of dotted
field paths to lists (``grid: {train.lr: [1e-4, 2e-4]}``). The grid is the product of all of them; each cell is a
complete, validated :class:`~sublearn.config.experiment.ExperimentSpec`."""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from sublearn.config.experiment import ExperimentSpec
from sublearn.config.unions import member_for, union_members
from sublearn.util.errors import ConfigError, validation_messages
from sublearn.util.settings import Seed

#: The most cells one spec may expand to (computed before any cell is built): a grid past it is almost always a
#: mistake (a YAML alias repeated on several axes, a list where one value was meant).
MAX_CELLS = 10_000
_SEEDS = TypeAdapter(list[Seed])


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (YAML itself keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *alias`: explicit keys may override it
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark)
                seen[key] = line
            except TypeError:  # an unhashable key: the base loader names it
                continue
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> Any:
    """A YAML document, as ``yaml.safe_load`` reads it, except that a mapping repeating a key is an error."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _check_seeds(seeds: Any) -> list[int]:
    """``seeds``: a non-empty list of distinct integers in [0, 2^32) (no booleans, no floats)."""
    try:
        values = _SEEDS.validate_python(seeds)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{p}]" for p in first["loc"])
        raise ConfigError(f"seeds{where}: {first['msg']} (seeds are distinct integers in [0, 2^32))") from exc
    if not values:
        raise ConfigError("seeds: must be a non-empty list of distinct integers in [0, 2^32)")
    repeated = sorted({s for s in values if values.count(s) > 1})
    if repeated:
        raise ConfigError(f"seeds: {repeated} listed more than once; a replicate counted twice would shrink the "
                          "confidence intervals without adding evidence")
    return values


def _is_list_type(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list_type(a) for a in typing.get_args(annotation))
    return annotation in (list, tuple, set)


def _list_axes(data: dict[str, Any], model: type[BaseModel], prefix: str = "") -> dict[str, list[Any]]:
    """Lists given for single-valued fields, as grid axes {dotted path: values}."""
    axes: dict[str, list[Any]] = {}
    for key, value in data.items():
        info = model.model_fields.get(key)
        if info is None:
            continue
        path = f"{prefix}{key}"
        sub = member_for(info.annotation, value)
        if sub is not None and isinstance(value, dict):
            axes.update(_list_axes(value, sub, f"{path}."))
        elif isinstance(value, list) and not _is_list_type(info.annotation):
            if not value:
                raise ConfigError(f"{path}: an empty list of values makes no cells; give at least one value")
            axes[path] = value
    return axes


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part, {}), dict):
            raise ConfigError(f"grid: {path}: {part} is not a section")
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _get_path(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _merged(old: Any, new: Any) -> Any:
    """What ``--set`` puts at a path: a mapping given for a section the file already has is merged into it, field
    by field (the file's other fields stay), unless it names another ``kind``, which replaces the section."""
    if not (isinstance(old, dict) and isinstance(new, dict)) or new.get("kind", old.get("kind")) != old.get("kind"):
        return new
    return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}


def _check_path(path: str) -> None:
    models: list[type[BaseModel]] = [ExperimentSpec]
    for part in path.split("."):
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if not fields:
            raise ConfigError(f"grid: {path}: no such field")
        models = [sub for f in fields for sub in union_members(f.annotation)]


def readable_path(loc: tuple[Any, ...]) -> str:
    """An error's location as people write it: pydantic puts a union member's tag after the field that holds the
    union (``carrier.code.filter``); the tag is dropped (``carrier.filter``)."""
    parts: list[str] = []
    models: list[type[BaseModel]] = [ExperimentSpec]
    expect_tag = False
    for part in map(str, loc):
        if expect_tag:
            expect_tag = False
            tagged = [m for m in models if m.model_fields.get("kind") and m.model_fields["kind"].default == part]
            if tagged:
                models = tagged
                continue
        parts.append(part)
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        models = [sub for f in fields for sub in union_members(f.annotation)]
        expect_tag = len(models) > 1
    return ".".join(parts)


def expand_grid(data: dict[str, Any]) -> list[ExperimentSpec]:
    """All cells of a spec document; raises :class:`ConfigError` naming every bad field."""
    if not isinstance(data, dict):
        raise ConfigError("spec: the top level must be a mapping of fields")
    data = copy.deepcopy(data)
    seeds = data.pop("seeds", None)
    grid = data.pop("grid", None) or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError("grid: must map dotted field paths to non-empty lists of values")
    for path in grid:
        _check_path(path)
    axes = {**_list_axes(data, ExperimentSpec), **grid}
    if seeds is not None:
        if "seed" in data:
            raise ConfigError("seed: the spec also lists seeds; give one of them (seeds: [...] for replicates)")
        axes["seed"] = _check_seeds(seeds)
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_CELLS:
        sizes = ", ".join(f"{p}: {len(v)}" for p, v in axes.items())
        raise ConfigError(f"grid: {size:,} cells ({sizes}) is more than {MAX_CELLS:,}; split the spec")
    paths = list(axes)
    cells, errors = [], []
    for values in itertools.product(*(axes[p] for p in paths)) if paths else [()]:
        doc = copy.deepcopy(data)
        for path, value in zip(paths, values, strict=True):
            _set_path(doc, path, value)
        try:
            cells.append(ExperimentSpec(**doc))
        except ValidationError as exc:
            errors += [line for line in validation_messages(exc, readable_path) if line not in errors]
        except TypeError as exc:
            errors.append(f"spec: {exc}")
    if errors:
        raise ConfigError("; ".join(errors))
    _one_primary(cells)
    return cells


def _one_primary(cells: list[ExperimentSpec]) -> None:
    """A spec declares one primary test: the cells that hold it must differ by their replicate alone (a grid over
    other bases names the one whose group holds it, ``analysis.primary.other_base``)."""
    holding = []
    for cell in cells:
        primary = cell.analysis.primary
        if primary is None or (primary.other_base is not None and cell.controls.cross_model != primary.other_base):
            continue
        holding.append(cell.model_dump(mode="json", exclude={"seed"}))
    designs = {json.dumps(d, sort_keys=True) for d in holding}
    if len(designs) > 1:
        raise ConfigError(f"analysis.primary: {len(designs)} groups of the grid would each hold it; a spec declares "
                          "one primary test (name the other base that holds it: analysis.primary.other_base, or "
                          "split the spec)")
    declared = {c.analysis.primary.other_base for c in cells if c.analysis.primary is not None}
    bases = {c.controls.cross_model for c in cells}
    missing = sorted(b for b in declared if b is not None and b not in bases)
    if missing:
        raise ConfigError(f"analysis.primary.other_base: {missing[0]!r} is not an other base of this spec "
                          f"(controls.cross_model: {', '.join(sorted(str(b) for b in bases))})")


_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def parse_override(text: str) -> tuple[str, Any]:
    """``PATH=VALUE`` of ``--set``: a dotted field path (or ``seeds``, or ``grid.PATH``) and a YAML value."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ConfigError(f"--set {text!r}: give PATH=VALUE, e.g. --set train.lr=1e-4 or --set seeds=[0,1]")
    try:
        value = read_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {path}: {raw!r} is not a YAML value ({getattr(exc, 'problem', exc)})") from exc
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-4 as text
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of a spec document with each ``--set PATH=VALUE`` applied (paths checked against the spec's
    fields; a value is validated with the rest of the spec)."""
    data = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        if path == "seeds":
            data["seeds"] = value
            data.pop("seed", None)
            continue
        if path == "seed" and "seeds" in data:
            raise ConfigError(f"--set seed: the spec lists seeds: {data['seeds']}; set seeds=[...] instead (one "
                              "replicate: --set seeds=[N])")
        if path.startswith("grid."):
            _check_path(path[len("grid."):])
            data.setdefault("grid", {})[path[len("grid."):]] = value
            continue
        try:
            _check_path(path)
            _set_path(data, path, _merged(_get_path(data, path), value))
        except ConfigError as exc:
            raise ConfigError(f"--set {exc.args[0].removeprefix('grid: ')}") from exc
    return data


def load_spec_file(path: str | Path, overrides: list[str] | None = None) -> list[ExperimentSpec]:
    """Read a YAML spec, apply ``--set`` overrides, and expand its grid."""
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{file}: a folder, not a spec file (give the YAML file)")
    if not file.is_file():
        raise ConfigError(f"{file}: spec file not found")
    try:
        data = read_yaml(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read ({exc})") from exc
    if overrides:
        if not isinstance(data or {}, dict):
            raise ConfigError(f"{file}: spec: the top level must be a mapping of fields")
        data = apply_overrides(data or {}, overrides)
    try:
        return expand_grid(data or {})
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
