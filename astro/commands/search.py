"""`astro search`: build one search tree per problem into an append-only, resumable JSONL file.

    astro search --problems math500 --policy.model ./policy --out trees.jsonl --shard 0/4
    astro search --task countdown --n-problems 100 --problem-seed 1 --policy.backend countdown --out trees.jsonl \
        --search.agent mcts --search.agent-config.n-iterations 8
    astro search --config runs/x/stages/trees.json

`--search.agent` names the agent (mcts, best_of_n, beam, a plug-in's name, or package.module:Class);
its own config's fields are flags under `--search.agent-config.` with their docstrings as help.
Killed at any moment and started again with the same arguments, it finishes with every tree
exactly once. Prints one JSON summary line at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from agents.base import PolicyConfig
from astro_env.errors import UserError
from astro_env.registry import component_config_field
from astro_env.task import task_config_class
from search.run import SearchConfig, parse_shard

__all__ = ["SearchJob", "build_trees", "main", "parse_shard"]


@dataclass(frozen=True)
class SearchJob:
    """The `trees` stage: which problems, which policy proposes the steps, which search agent, where the trees go."""

    out: str = ""
    """Tree JSONL file (appended; resumed when it exists); its config goes beside it (`trees.config.json`)."""
    problems: str = ""
    """Problem set: a benchmark name (math500, amc23, aime24, aime25), a .jsonl file, or a generated
    set spec (countdown[:n[:seed]]); empty: `--task` generates `--n-problems`."""
    task: str = ""
    """Task that generates the problems when --problems is empty (its config: --task-config.*)."""
    task_config: Any = component_config_field("task", lambda name: task_config_class(name) if name else None)
    """The task's own Config (None: its defaults)."""
    n_problems: int = 0
    """Problems the task generates (with --task)."""
    problem_seed: int = 0
    """Seed of the task's generator (with --task)."""
    limit: int = 0
    """Use only the first N problems (0: all)."""
    data_dir: str = ""
    """Benchmark data directory (empty: $ASTRO_DATA_DIR, else ../shared/data)."""
    policy: PolicyConfig = PolicyConfig()
    """The policy that proposes steps and completes rollouts (`--policy.backend countdown`: the symbolic proposer)."""
    search: SearchConfig = SearchConfig()
    """The search agent, its own config, the budget, the seed and the executor."""
    shard: str = "0/1"
    """i/n: search the problems whose index % n == i."""
    n_pages: int = 0
    """Draw the first N trees that hold both a correct and a wrong terminal as HTML pages beside the tree file."""
    progress: bool = field(default=True, compare=False)
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if self.task and self.task_config is None:
            config_cls = task_config_class(self.task)
            object.__setattr__(self, "task_config", config_cls() if config_cls is not None else None)


def load_problem_set(job: SearchJob) -> list:
    """The problems `job` names (--problems) or generates (--task), cut to --limit."""
    if bool(job.problems) == bool(job.task):
        raise UserError("astro search: give exactly one of --problems NAME_OR_FILE or --task NAME --n-problems N.")
    if job.limit < 0:
        raise UserError(f"--limit {job.limit}: use >= 1 (the first N problems), or 0 for all.")
    if job.task:
        import astro_env

        if job.n_problems < 1:
            raise UserError(f"--n-problems {job.n_problems}: give how many problems --task {job.task} generates (>= 1).")
        task = astro_env.get_task(job.task, job.task_config)
        if not callable(getattr(task, "generate", None)):
            raise UserError(f"task {job.task!r} generates no problems: pass --problems FILE_OR_NAME.")
        problems = list(task.generate(job.n_problems, job.problem_seed))
        return problems[: job.limit] if job.limit else problems
    from astro_env.loaders import load_problems

    return load_problems(job.problems, data_dir=job.data_dir or None, limit=job.limit or None)


def build_trees(job: SearchJob) -> list:
    """The trees of `job`'s problems (searched, or read back from `job.out`), with `n_pages` pages drawn."""
    from search.executor import configure_logging, policy_for
    from search.run import search_trees
    from search.viewer import render_html

    if not job.out:
        raise UserError("--out is empty: give the trees JSONL file.")
    shard = parse_shard(job.shard)
    problems = load_problem_set(job)  # bad problems or a missing model: one line, before any tree file is written
    policy = policy_for(job.policy, job.search.executor)
    if job.search.executor.kind == "ray":
        configure_logging()
    trees = search_trees(problems, policy, job.search, out_path=job.out, shard=shard, progress=job.progress)
    mixed = [t for t in trees if t.correct_terminals() and t.wrong_terminals()][: job.n_pages]
    for idx, tree in enumerate(mixed):
        (Path(job.out).parent / f"tree_{idx}.html").write_text(render_html(tree, title=tree.problem.id), encoding="utf-8")
    return trees


def main(argv: Sequence[str] | None = None) -> int:
    from astro.stage_command import run_stage_command

    def body(job: SearchJob) -> None:
        trees = build_trees(job)
        n_correct = sum(1 for t in trees if t.correct_terminals())
        print(json.dumps({
            "out": job.out,
            "agent": job.search.agent,
            "n_trees": len(trees),
            "search/correct_share": n_correct / len(trees) if trees else 0.0,
            "search/n_nodes": sum(len(t) for t in trees),
        }))

    return run_stage_command(SearchJob, argv, body, command="search", description=__doc__.split("\n")[0],
                             default=SearchJob(), aliases=ALIASES)


ALIASES = {"--chat-template": "--policy.chat.template", "--system-prompt": "--policy.chat.system-prompt",
           "--policy": "--policy.model", "--backend": "--policy.backend", "--agent": "--search.agent",
           "--search-agent": "--search.agent", "--executor": "--search.executor.kind"}
"""Short flags of `astro search` (plain renamings)."""
