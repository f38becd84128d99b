"""`search_trees`: build (or resume building) one search tree per problem with any search agent.

The tree file is append-only JSON Lines, one tree per problem, flushed per tree. A run
killed at any moment and started again with the same arguments skips the problems already
written (a torn last line is dropped), and produces the same trees an uninterrupted run would
have on a deterministic backend: problems are searched in fixed batches of the shard's list,
and a batch with any tree missing is searched again as a whole with the same seeds.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from agents.base import PolicyAgent
from astro_env.errors import UserError
from astro_env.jsonl import JsonlWriter, manifest_mismatch, read_jsonl, remove_manifest, write_json, write_manifest
from astro_env.problem import Problem
from astro_env.registry import component_config_field
from astro_env.state import DEFAULT_DELIMITER
from search.agent import SearchAgent, default_agent_config, search_agent_class
from search.builder import SearchBudget, TaskResolver, default_task_resolver
from search.executor import ExecutorConfig, Shard, make_shards, map_shards
from search.tree import SearchTree, tree_record_error


@dataclass(frozen=True)
class SearchConfig:
    """Which search agent builds the trees, with its own settings (one value swaps the agent)."""

    agent: str = "mcts"
    """Search agent: a registered name (mcts, best_of_n, beam, or a plug-in's) or a
    `package.module:Class` import path (see `search.agent.SearchAgent`)."""
    agent_config: Any = component_config_field("agent", lambda name: search_agent_class(name).Config, depends_on=("budget",))
    """An instance of the agent's own `Config` dataclass; None = `Config.for_budget(budget)` when the
    agent's Config declares that classmethod, else the Config's defaults."""
    budget: SearchBudget = SearchBudget()
    """The equal-compute budget; it reaches the agent only through its Config's `for_budget`, when
    `agent_config` is left to default."""
    seed: int = 0
    """Search seed; each problem's seed is derived from it and the problem id."""
    batch_problems: int = 8
    """Problems whose trees advance together (one policy call per phase for all of them)."""
    delimiter: str = DEFAULT_DELIMITER
    """Separator between reasoning steps."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, compare=False)
    """Where the batches run (local, or shards on a Ray cluster); it does not change the trees."""

    def __post_init__(self) -> None:
        cls = search_agent_class(self.agent)  # ValueError naming the registered agents
        if self.agent_config is None:
            object.__setattr__(self, "agent_config", default_agent_config(self.agent, self.budget))
        elif not isinstance(self.agent_config, cls.Config):
            raise UserError(
                f"agent_config is a {type(self.agent_config).__name__}; search agent {self.agent!r} takes {cls.Config.__name__}."
            )
        if self.batch_problems < 1:
            raise UserError(f"batch_problems={self.batch_problems}: use >= 1.")
        if not self.delimiter:
            raise UserError("delimiter must be non-empty (default: a blank line).")

    def build_agent(self) -> SearchAgent:
        """The configured search agent."""
        return search_agent_class(self.agent)(self.agent_config)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the settings that decide the trees (saved beside them; no executor)."""
        return {
            "agent": self.agent,
            "agent_config": asdict(self.agent_config),
            "budget": asdict(self.budget),
            "seed": self.seed,
            "batch_problems": self.batch_problems,
            "delimiter": self.delimiter,
        }


def search_batch(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: SearchConfig,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """Trees for `problems` searched together by the configured agent (aligned with `problems`)."""
    trees = config.build_agent().search(problems, policy, config.seed, config.delimiter, task_for)
    if len(trees) != len(problems):
        raise ValueError(f"search agent {config.agent!r} returned {len(trees)} trees for {len(problems)} problems; it must return one per problem.")
    return trees


def search_shard(policy: PolicyAgent, shard: Shard[Problem], config: SearchConfig, task_for: TaskResolver) -> list[SearchTree]:
    """The trees of one shard's problems (an executor's `work`; aligned with `shard.items`)."""
    return search_batch(list(shard.items), policy, config, task_for)


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/n"` -> (i, n) with 0 <= i < n; UserError otherwise."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r}: use i/n, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise UserError(f"--shard {text!r}: need n >= 1 and 0 <= i < n")
    return index, count


def shard_problems(problems: Sequence[Problem], shard: tuple[int, int]) -> list[Problem]:
    """Problems whose index % n == i for shard (i, n), a repeated problem id kept once."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard={shard}: use (i, n) with n >= 1 and 0 <= i < n, e.g. (0, 4).")
    seen: set[str] = set()
    out = []
    for idx, problem in enumerate(problems):
        if idx % count == index and problem.id not in seen:
            seen.add(problem.id)
            out.append(problem)
    return out


def config_path(out_path: str | os.PathLike) -> Path:
    """Where the config of a tree file is saved: `trees.jsonl` -> `trees.config.json`."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.stem + ".config.json")


def _rewrite_jsonl(path: Path, records: Sequence[dict]) -> None:
    """Replace `path` atomically by `records`, one JSON object per line."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def search_trees(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: SearchConfig,
    out_path: str | os.PathLike | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """Trees of the shard's problems in problem order, read back or searched (resumable).

    With `out_path`, trees already in the file are kept when they match a problem by id and
    content (`Problem.content_hash`), and each new tree is appended and flushed as soon as its
    batch finishes. A saved tree whose problem has the same id but different content (a
    regenerated problem file) is stale: it is removed from the file and its problem searched
    again, so the file never returns a tree for another version of a problem; the config is written to
    `config_path(out_path)` and a different config already there raises ValueError (use a new
    output file); the config and the file are created with the first tree, so a search that fails
    before it leaves nothing behind, and a finished file gets its manifest
    (`astro_env.jsonl.write_manifest`; a file cut short since is reported and completed). `shard=(i, n)` takes the problems whose index % n == i. The progress bar
    shows trees/s and the share of trees with a correct leaf. `config.executor` decides where
    the batches run (one executor shard per batch, so the trees do not depend on it); with Ray
    a batch that keeps failing raises `search.executor.ShardsFailed` after every other tree is
    written.
    """
    mine = shard_problems(problems, shard)
    done: dict[str, SearchTree] = {}
    writer: JsonlWriter | None = None
    pending_config: dict | None = None
    if out_path is not None:
        saved = config_path(out_path)
        record = {"search": config.to_dict(), "policy": getattr(policy, "name", type(policy).__name__)}
        if saved.exists():
            try:
                previous = json.loads(saved.read_text(encoding="utf-8"))
            except ValueError:
                raise UserError(f"{saved}: unreadable search config beside --out {out_path}; delete both, or give a new --out.") from None
            if not isinstance(previous, dict) or previous.get("search") != json.loads(json.dumps(record["search"])):
                raise UserError(f"{out_path} was built with a different search config ({saved}); use a new --out or the same settings.")
        why = manifest_mismatch(out_path)
        if why is not None:
            print(f"search: {out_path} {why} (cut short or changed since it was finished); searching its missing trees again.", file=sys.stderr)
        remove_manifest(out_path)  # written again once every tree is in the file
        wanted = {p.id: p.content_hash for p in mine}
        kept: list[dict] = []
        n_stale = 0
        for line_no, data in enumerate(read_jsonl(out_path), start=1):
            bad = tree_record_error(data)
            if bad is not None:
                raise UserError(f"--out {out_path}: record {line_no}: {bad}; give a new --out for the trees.")
            tree = SearchTree.from_dict(data)
            pid = tree.problem.id
            if pid in wanted and wanted[pid] != tree.problem_hash:
                n_stale += 1
                continue
            kept.append(data)
            if pid in wanted and pid not in done:
                done[pid] = tree
        if n_stale:
            _rewrite_jsonl(Path(out_path), kept)
            print(f"search: {n_stale} saved tree(s) in {out_path} were built for a different version of their problem; searching them again.", file=sys.stderr)
        if not saved.exists():
            pending_config = record  # written with the first tree: a search that fails before it leaves no file
        if Path(out_path).exists():
            writer = JsonlWriter(out_path)  # repairs a torn tail now; a new file is opened with its first tree
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(mine), initial=len(done), unit="tree", desc=f"search[{config.agent}]", dynamic_ncols=True)
    n_correct = sum(1 for t in done.values() if t.correct_terminals())

    def collect(shard: Shard[Problem], trees: list[SearchTree]) -> None:
        nonlocal n_correct, writer
        for tree in trees:
            if tree.problem.id in done:
                continue
            done[tree.problem.id] = tree
            n_correct += bool(tree.correct_terminals())
            if out_path is not None:
                if writer is None:
                    if pending_config is not None:
                        write_json(config_path(out_path), pending_config)
                    writer = JsonlWriter(out_path)
                writer.write(tree.to_dict())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(correct=f"{n_correct / max(len(done), 1):.0%}")

    # one shard per batch: a batch's sampling seeds derive from its problems, so any executor gives the same trees
    shards = make_shards(mine, config.batch_problems, lambda p: p.id, skip=lambda batch: all(p.id in done for p in batch))
    try:
        map_shards(shards, functools.partial(search_shard, config=config, task_for=task_for), policy, config.executor, collect)
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    if out_path is not None and Path(out_path).exists():
        if pending_config is not None and not config_path(out_path).exists():
            write_json(config_path(out_path), pending_config)
        write_manifest(out_path, shard=list(shard))
    return [done[p.id] for p in mine]
