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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from agents.base import PolicyAgent
from astro_env.jsonl import JsonlWriter, read_jsonl, write_json
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER
from search.baselines import BeamConfig, BestOfNConfig, beam_trees, best_of_n_trees
from search.executor import ExecutorConfig, Shard, make_shards, map_shards
from search.mcts import MCTSConfig, TaskResolver, default_task_resolver, mcts_trees
from search.tree import SearchTree


@dataclass(frozen=True)
class SearchConfig:
    """Which search agent builds the trees, with its budget (one value swaps the agent)."""

    agent: Literal["mcts", "best_of_n", "beam"] = "mcts"
    """Search agent: PUCT MCTS (ASTRO), best-of-N sampling, or step-level beam search."""
    mcts: MCTSConfig = field(default_factory=MCTSConfig)
    """MCTS budget and rules (used when agent == "mcts")."""
    best_of_n: BestOfNConfig = field(default_factory=BestOfNConfig)
    """Best-of-N budget (used when agent == "best_of_n")."""
    beam: BeamConfig = field(default_factory=BeamConfig)
    """Beam search budget (used when agent == "beam")."""
    seed: int = 0
    """Search seed; each problem's seed is derived from it and the problem id."""
    batch_problems: int = 8
    """Problems whose trees advance together (one policy call per phase for all of them)."""
    delimiter: str = DEFAULT_DELIMITER
    """Separator between reasoning steps."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig, compare=False)
    """Where the batches run (local, or shards on a Ray cluster); it does not change the trees."""

    def __post_init__(self) -> None:
        if self.agent not in ("mcts", "best_of_n", "beam"):
            raise ValueError(f"agent={self.agent!r}: use 'mcts', 'best_of_n' or 'beam'.")
        if self.batch_problems < 1:
            raise ValueError(f"batch_problems={self.batch_problems}: use >= 1.")
        if not self.delimiter:
            raise ValueError("delimiter must be non-empty (default: a blank line).")

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the settings that decide the trees (saved beside them; no executor)."""
        out = asdict(self)
        out.pop("executor")
        return out


def search_batch(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: SearchConfig,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """Trees for `problems` searched together by `config.agent` (aligned with `problems`)."""
    if config.agent == "mcts":
        return mcts_trees(problems, policy, config.mcts, config.seed, config.delimiter, task_for)
    if config.agent == "best_of_n":
        return best_of_n_trees(problems, policy, config.best_of_n, config.seed, config.delimiter, task_for)
    return beam_trees(problems, policy, config.beam, config.seed, config.delimiter, task_for)


def search_shard(policy: PolicyAgent, shard: Shard[Problem], config: SearchConfig, task_for: TaskResolver) -> list[SearchTree]:
    """The trees of one shard's problems (an executor's `work`; aligned with `shard.items`)."""
    return search_batch(list(shard.items), policy, config, task_for)


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

    With `out_path`, trees already in the file are kept (matched by problem id) and each new
    tree is appended and flushed as soon as its batch finishes; the config is written to
    `config_path(out_path)` and a different config already there raises ValueError (use a new
    output file). `shard=(i, n)` takes the problems whose index % n == i. The progress bar
    shows trees/s and the share of trees with a correct leaf. `config.executor` decides where
    the batches run (one executor shard per batch, so the trees do not depend on it); with Ray
    a batch that keeps failing raises `search.executor.ShardsFailed` after every other tree is
    written.
    """
    mine = shard_problems(problems, shard)
    done: dict[str, SearchTree] = {}
    writer: JsonlWriter | None = None
    if out_path is not None:
        saved = config_path(out_path)
        record = {"search": config.to_dict(), "policy": getattr(policy, "name", type(policy).__name__)}
        if saved.exists():
            previous = json.loads(saved.read_text(encoding="utf-8"))
            if previous.get("search") != json.loads(json.dumps(record["search"])):
                raise ValueError(f"{out_path} was built with a different search config ({saved}); use a new --out or the same settings.")
        else:
            write_json(saved, record)
        wanted = {p.id for p in mine}
        for data in read_jsonl(out_path):
            tree = SearchTree.from_dict(data)
            if tree.problem.id in wanted and tree.problem.id not in done:
                done[tree.problem.id] = tree
        writer = JsonlWriter(out_path)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(mine), initial=len(done), unit="tree", desc=f"search[{config.agent}]", dynamic_ncols=True)
    n_correct = sum(1 for t in done.values() if t.correct_terminals())

    def collect(shard: Shard[Problem], trees: list[SearchTree]) -> None:
        nonlocal n_correct
        for tree in trees:
            if tree.problem.id in done:
                continue
            done[tree.problem.id] = tree
            n_correct += bool(tree.correct_terminals())
            if writer is not None:
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
    return [done[p.id] for p in mine]
