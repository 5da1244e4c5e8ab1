"""Spec files and grids. A spec file is one experiment plus optionally ``seeds: [...]`` and lists of values: a
list given for a field that takes one value (``train: {lr: [1e-4, 2e-4]}``) or a ``grid:`` mapping of dotted
field paths to lists (``grid: {train.lr: [1e-4, 2e-4]}``). The grid is the product of all of them; each cell is a
complete, validated :class:`~sublearn.config.experiment.ExperimentSpec`."""

from __future__ import annotations

import copy
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sublearn.config.experiment import ExperimentSpec
from sublearn.config.unions import member_for, union_members
from sublearn.util.errors import ConfigError, validation_messages


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
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
            raise ConfigError("seeds: must be a non-empty list of non-negative integers")
        axes["seed"] = seeds
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
    return cells


_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def parse_override(text: str) -> tuple[str, Any]:
    """``PATH=VALUE`` of ``--set``: a dotted field path (or ``seeds``, or ``grid.PATH``) and a YAML value."""
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ConfigError(f"--set {text!r}: give PATH=VALUE, e.g. --set train.lr=1e-4 or --set seeds=[0,1]")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
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
            continue
        if path.startswith("grid."):
            _check_path(path[len("grid."):])
            data.setdefault("grid", {})[path[len("grid."):]] = value
            continue
        try:
            _check_path(path)
            _set_path(data, path, value)
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
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
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
