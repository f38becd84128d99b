"""Command lines parsed from the config dataclasses with tyro, the same way for every `astro` command.

- Nested flags name a field by its path in the tree: `--sft.lr 3e-6 --grpo.group-size 4`; a
  field's docstring is its `--help`.
- A plug-in's own config gets real flags: the name of the search agent (`--search.agent`) and of
  the task (`--task.name`) are read first, then tyro is handed the concrete `Config` of what they
  name (`--search.agent-config.n-attempts 6`). Unless a flag sets it, that config is the
  component's default: `Config.for_budget(budget)` for an agent that declares it, else `Config()`.
- `--config FILE` starts from a saved config (a stage file of `astro run --dry-run`, a
  `run_config.json`, a trainer's `*_config.json`); flags override it.
- Short aliases (per command) are plain renamings, e.g. `--model` for `--policy.model`.
- A bad flag raises `UserError` with one line (tyro's framed message, unframed); `--help` exits 0.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import os
import re
import sys
from typing import Any, Mapping, Sequence

from astro.configfile import StageFile, read_config_file
from astro_env.errors import OneLineParser, UserError
from astro_env.registry import component_config_fields

__all__ = ["OneLineParser", "expand_aliases", "one_line_tyro_error", "parse_command", "parse_config", "take_option"]


def expand_aliases(argv: Sequence[str], aliases: Mapping[str, str]) -> list[str]:
    """`argv` with each alias flag (`--model X`, `--model=X`) renamed to the flag it stands for."""
    out = []
    for token in argv:
        if token == "--":
            out += argv[len(out):]
            break
        head, sep, tail = token.partition("=")
        if head in aliases:
            token = aliases[head] + (sep + tail if sep else "")
        out.append(token)
    return out


def take_option(argv: Sequence[str], flag: str) -> tuple[str | None, list[str]]:
    """(value of `flag` or None, argv without it): for options read before tyro sees the rest."""
    rest: list[str] = []
    value = None
    items = list(argv)
    i = 0
    while i < len(items):
        token = items[i]
        if token == flag:
            if i + 1 >= len(items):
                raise UserError(f"{flag} needs a value.")
            value = items[i + 1]
            i += 2
            continue
        if token.startswith(flag + "="):
            value = token[len(flag) + 1:]
            i += 1
            continue
        rest.append(token)
        i += 1
    return value, rest


def parse_config(cls: type, argv: Sequence[str], default: Any = None, *, prog: str, description: str) -> Any:
    """An instance of `cls` from `argv` (see the module docstring); `default` holds the starting values."""
    has_plugins = default is not None and _has_plugin_fields(default)
    if has_plugins:
        head = _tyro(cls, argv, _blank_plugins(default), prog, description, head=True)
        default = _restore_plugins(default, head)
    return _tyro(cls, argv, default, prog, description)


def parse_command(cls: type, argv: Sequence[str], *, prog: str, description: str, default: Any = None,
                  aliases: Mapping[str, str] | None = None) -> tuple[Any, StageFile | None]:
    """(config, stage file or None) for a stage command: aliases, `--config FILE`, then `parse_config`."""
    argv = expand_aliases(argv, aliases or {})
    path, argv = take_option(argv, "--config")
    stage = None
    if path is not None:
        default, stage = read_config_file(cls, path)
    description = description + "\n\n--config FILE starts from a saved config (a stage file written by `astro run --dry-run`, " \
        "or a `*_config.json` a stage wrote); flags override it."
    config = parse_config(cls, argv, default, prog=prog, description=description)
    if stage is not None:
        # a flag that moves the output elsewhere makes it a plain command: that stage's folder of the run is
        # neither marked nor cleared for output written somewhere else
        moved = getattr(config, "out", None) != getattr(default, "out", None)
        stage = None if moved else dataclasses.replace(stage, config=config)
    return config, stage


# ----------------------------------------------------------------------------------------- plug-in configs


def _has_plugin_fields(obj: Any) -> bool:
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return False
    if component_config_fields(type(obj)):
        return True
    return any(_has_plugin_fields(getattr(obj, f.name)) for f in dataclasses.fields(obj))


def _blank_plugins(obj: Any) -> Any:
    """A copy of the config tree `obj` whose plug-in configs are None (tyro then makes no flags for them,
    and the configs tyro builds resolve their own defaults from the names and budgets parsed)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    out = copy.copy(obj)
    for f in dataclasses.fields(obj):
        object.__setattr__(out, f.name, _blank_plugins(getattr(obj, f.name)))
    for plugin in component_config_fields(type(obj)):
        object.__setattr__(out, plugin.config_field, None)
    return out


def _restore_plugins(original: Any, parsed: Any) -> Any:
    """`parsed`, with each plug-in config put back to `original`'s where neither the component's name nor
    what its default derives from changed (so a preset's own settings of an agent survive)."""
    if not (dataclasses.is_dataclass(parsed) and dataclasses.is_dataclass(original)) or type(parsed) is not type(original):
        return parsed
    out = copy.copy(parsed)
    for f in dataclasses.fields(parsed):
        object.__setattr__(out, f.name, _restore_plugins(getattr(original, f.name), getattr(parsed, f.name)))
    for plugin in component_config_fields(type(parsed)):
        same = all(getattr(parsed, n) == getattr(original, n) for n in (plugin.name_field, *plugin.depends_on))
        if same:
            object.__setattr__(out, plugin.config_field, getattr(original, plugin.config_field))
    return out


# ----------------------------------------------------------------------------------------- tyro


def _tyro(cls: type, argv: Sequence[str], default: Any, prog: str, description: str, head: bool = False) -> Any:
    import tyro

    wants_help = any(a in ("-h", "--help") for a in argv)
    captured = io.StringIO()
    columns = os.environ.get("COLUMNS")
    if not wants_help:
        os.environ["COLUMNS"] = "100000"  # one unwrapped line per message
    kwargs = {"default": default} if default is not None else {}
    try:
        with contextlib.redirect_stderr(captured):
            result = tyro.cli(cls, args=list(argv), prog=prog, description=description, return_unknown_args=head,
                              add_help=not head, **kwargs)
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        raise UserError(one_line_tyro_error(captured.getvalue()) or "bad command line; see --help.") from None
    except ValueError as exc:  # a config's own validation of the values given
        raise UserError(" ".join(str(exc).split())) from None
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns
        leftover = captured.getvalue()
    if leftover:
        sys.stderr.write(leftover)
    return result[0] if head else result


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PARSING = re.compile(r"^Error parsing (?!-)[^\s:]+: ")
_FRAME = "╭╮╰╯│─┌┐└┘├┤"


def one_line_tyro_error(text: str) -> str:
    """tyro's framed error as one line: its message, and the flag it suggests when it has one.

    tyro frames an error in a box (UTF-8 output) or between dashed rules (other encodings); both
    are a title, then sections split by rules: the message, "Perhaps you meant:" suggestions, help.
    """
    lines = [_ANSI.sub("", line).strip() for line in text.splitlines()]
    boxed = any(line.startswith("╭") for line in lines)
    title = ""
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("╭"):
            title = line.strip(_FRAME + " ")
            continue
        body = line.strip("│ ")
        if not body or line.startswith("╰"):
            continue
        if set(body) <= set(_FRAME + "- "):
            sections.append([])
            continue
        sections[-1].append(body)
    if not boxed and len(sections) > 1 and len(sections[0]) == 1:
        title = sections.pop(0)[0]
    sections = [section for section in sections if section]
    message = " ".join(sections[0]) if sections else title
    message = _PARSING.sub("", message)  # "Error parsing search: <the config's own message>" -> the message
    unknown = re.match(r"Unrecognized options?: (.*)", message)
    if unknown:  # tyro lists the values after an unknown flag as options too: name the flags only
        flags = [item for item in unknown.group(1).split(", ") if item.startswith("-")]
        if flags:
            message = f"Unrecognized option{'s' if len(flags) > 1 else ''}: {', '.join(flags)}"
    for section in sections[1:]:
        if section[0].startswith("Perhaps you meant") and len(section) > 1:
            message += f" (did you mean {section[1].split()[0]}?)"
            break
    return " ".join(message.split())
