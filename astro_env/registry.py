"""Plug-in registries: a component is chosen by a name or by a `package.module:attr` import path.

Four seams are open to outside code, each an entry-point group:

| group | what the entry point loads | looked up by |
|---|---|---|
| `astro.tasks` | a `Task` class (or factory) | `astro_env.get_task` |
| `astro.policies` | a factory `PolicyConfig -> PolicyAgent` | `agents.build_policy` |
| `astro.search_agents` | a `SearchAgent` class with a `Config` dataclass | `search.agent.build_search_agent` |
| `astro.grpo_engines` | a `training.grpo.GRPOEngine` (the in-house loop, TRL's trainer) | `training.grpo.train_grpo` |

The project's own components are declared in `setup.cfg` under the same groups, so a package
installed beside it (`pip install -e my_plugin/`) adds names exactly the way the built-ins do.
A name that is not registered may be an import path (`my_pkg.agents:GreedyRestarts`), and a
registered name may take one argument after a colon (`reasoning_gym:chain_sum`), which is passed
to the loaded factory. This module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from astro_env.errors import UserError


class UnknownComponentError(UserError):
    """A name that is neither registered nor an importable `module:attr` path (bad input: a `UserError`)."""


@functools.lru_cache(maxsize=None)
def _entry_points(group: str) -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=group):
        found.setdefault(entry.name, entry)
    return found


def _import_path(spec: str) -> Any:
    """`package.module:attr.sub` -> the object; modules are found from the current directory too
    (as `python -m` would), so a researcher's `my_agents.py` needs no installation."""
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if exc.name is None or not module_name.startswith(exc.name) or cwd in sys.path:
            raise
        sys.path.append(cwd)  # spawned workers inherit sys.path, so they resolve the same name
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Registry:
    """Names of one entry-point group, resolved lazily (the target module is imported on first use)."""

    group: str
    """Entry-point group, e.g. `astro.search_agents`."""
    kind: str
    """What a component is called in messages, e.g. "search agent"."""

    def names(self) -> list[str]:
        """Registered names (built-ins and installed plug-ins), sorted."""
        return sorted(_entry_points(self.group))

    def split(self, spec: str) -> tuple[str, str | None]:
        """`(name, argument)` of a registered `name` or `name:argument`; ValueError when it is neither."""
        registered = _entry_points(self.group)
        if spec in registered:
            return spec, None
        head, sep, arg = spec.partition(":")
        if sep and head in registered and arg:
            return head, arg
        raise UnknownComponentError(f"{spec!r} is not a registered {self.kind}")

    def load(self, spec: str) -> tuple[Any, str | None]:
        """The object `spec` names and the argument it carries (None when it has none).

        `spec` is a registered name, `name:argument` for a registered name, or a
        `package.module:attr` import path. Raises UnknownComponentError (a ValueError) naming
        the registered names when none of these resolves.
        """
        if not isinstance(spec, str) or not spec.strip():
            raise UnknownComponentError(f"empty {self.kind} name; use one of {', '.join(self.names())} or package.module:attr.")
        try:
            name, arg = self.split(spec)
        except UnknownComponentError:
            name, arg = "", None
        if name:
            return _entry_points(self.group)[name].load(), arg
        if ":" in spec:
            try:
                return _import_path(spec), None
            except (ImportError, AttributeError) as exc:
                raise UnknownComponentError(
                    f"{self.kind} {spec!r}: cannot import it ({type(exc).__name__}: {exc}); "
                    f"registered names: {', '.join(self.names())}."
                ) from None
        raise UnknownComponentError(
            f"unknown {self.kind} {spec!r}: use one of {', '.join(self.names())}, "
            "or an import path package.module:attr (installed packages add names through the "
            f"{self.group!r} entry-point group)."
        )

    def check(self, spec: str) -> None:
        """Raise UnknownComponentError unless `spec` resolves (imports its module)."""
        self.load(spec)


TASKS = Registry("astro.tasks", "task")
POLICIES = Registry("astro.policies", "policy backend")
SEARCH_AGENTS = Registry("astro.search_agents", "search agent")
GRPO_ENGINES = Registry("astro.grpo_engines", "GRPO engine")


@dataclass(frozen=True)
class ComponentConfigField:
    """A config field holding the own `Config` of a component that a sibling field names (a search agent, a task)."""

    name_field: str
    """Sibling field naming the component."""
    config_field: str
    """The field holding an instance of that component's Config (None: the component takes none)."""
    config_class: Callable[[str], "type | None"]
    """Name -> the component's Config class, or None when it declares none."""
    depends_on: tuple[str, ...] = ()
    """Other sibling fields the default config derives from (a search budget)."""


def component_config_field(name_field: str, config_class: Callable[[str], "type | None"], depends_on: tuple[str, ...] = ()) -> Any:
    """A dataclass field (default None) that holds the own Config of the component named by `name_field`.

    Config files read it back as that Config (`astro.configfile`) and command lines give it the
    Config's flags once the name is known (`astro.args`), for built-in and plug-in components alike.
    """
    return dataclasses.field(default=None, metadata={"component_config": (name_field, config_class, depends_on)})


def component_config_fields(cls: type) -> list[ComponentConfigField]:
    """The component-config fields of dataclass `cls` (see `component_config_field`)."""
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("component_config")
        if spec is not None:
            name_field, config_class, depends_on = spec
            out.append(ComponentConfigField(name_field, f.name, config_class, tuple(depends_on)))
    return out
