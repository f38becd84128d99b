"""Configs as JSON and back: what `run_config.json` and every stage's config file hold.

`config_to_dict(config)` is `dataclasses.asdict` (a component's own config, such as a search
agent's `Config`, is written as its fields); `config_from_dict(cls, data)` builds the same
objects again, field by field from `cls`'s type hints, so `config_from_dict(type(c),
config_to_dict(c)) == c` for every config of the run tree. A field that holds a component's own
config (`astro_env.registry.component_config_field`) is rebuilt as the `Config` class of the
component its sibling field names: `SearchConfig.agent_config` by `agent`, a task's config by
the task's name.

Stage files (`write_stage_file` / `read_config_file`) wrap a stage's config with what the stage
runner needs to key and place it (the stage's folder name, the run folder, the stages it
reads); `astro <stage> --config FILE` reads either form.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Union

from astro_env.errors import UserError
from astro_env.registry import component_config_fields

__all__ = ["StageFile", "config_from_dict", "config_to_dict", "read_config_file", "write_stage_file"]


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as JSON-ready nested dicts (tuples become lists when dumped)."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """An instance of dataclass `cls` from `data` (as `config_to_dict` wrote it); missing keys keep
    their defaults. UserError names an unknown key or a value of the wrong kind."""
    if not isinstance(data, Mapping):
        raise UserError(f"{where or cls.__name__}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UserError(f"{where or cls.__name__}: unknown field(s) {', '.join(unknown)}; {cls.__name__} has {', '.join(known)}.")
    plugins = {p.config_field: p for p in component_config_fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        path = f"{where}.{name}" if where else name
        if name in plugins:
            plugin = plugins[name]
            owner = data.get(plugin.name_field, _default(known[plugin.name_field]))
            config_cls = plugin.config_class(owner)
            if value is None or config_cls is None:
                if value not in (None, {}):
                    raise UserError(f"{path}: {owner!r} takes no config; leave it out.")
                kwargs[name] = None
                continue
            kwargs[name] = config_from_dict(config_cls, value, path)
            continue
        kwargs[name] = _value(hints[name], value, path)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where or cls.__name__}: {exc}") from None


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return field.default_factory()  # type: ignore[misc]
    return None


def _value(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, path)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return _value(arm, value, path)
            except UserError:
                continue
        raise UserError(f"{path}: {value!r} is none of {hint}.")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}.")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{path}: expected a list, got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise UserError(f"{path}: expected {len(args)} values, got {len(value)}.")
        return tuple(_value(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value))) if args else tuple(value)
    if origin in (list, dict) or hint in (list, dict):
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{path}: expected a number, got {value!r}.")
        return float(value)
    if hint is int or hint is bool or hint is str:
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise UserError(f"{path}: expected {hint.__name__}, got {value!r}.")
        return value
    return value


@dataclass(frozen=True)
class StageFile:
    """A stage's config file: the config and what the stage runner needs to key and place it."""

    stage: str
    """Folder of the stage under the run folder (`seed0/sft-astro`); its `stage.json` marks it done."""
    run_dir: str
    """The run folder, as given to `astro run --out`."""
    inputs: tuple[str, ...]
    """Stages (folders under the run folder) whose outputs the stage reads; their key hashes enter its key."""
    config: Any
    """The stage's config object (what the stage function receives)."""


def write_stage_file(path: Path, stage: StageFile) -> Path:
    """Write `stage` as JSON to `path` (parents created); returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"stage": stage.stage, "run_dir": stage.run_dir, "inputs": list(stage.inputs), "config": config_to_dict(stage.config)}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_config_file(cls: type, path: str | Path) -> tuple[Any, StageFile | None]:
    """(config, stage or None) from a JSON file holding a `cls` config, or a stage file wrapping one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config {path}: no such file.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--config {path}: not a JSON config ({exc}).") from None
    if isinstance(data, dict) and {"stage", "run_dir", "config"} <= set(data):
        config = config_from_dict(cls, data["config"], where=str(path))
        inputs = data.get("inputs", [])
        return config, StageFile(str(data["stage"]), str(data["run_dir"]), tuple(inputs), config)
    return config_from_dict(cls, data, where=str(path)), None
