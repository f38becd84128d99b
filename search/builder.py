"""The tree-building API every search agent uses: one `TreeBuilder` per problem, and the seeds.

A search agent (`search.agent.SearchAgent`) grows its trees with these names and nothing
else from the built-in agents; MCTS, best-of-N, beam and `examples/greedy_restarts.py` all do:

- `make_builders(problems, task_for, delimiter, seed, agent)`: a fresh `TreeBuilder` per problem,
  its root the task's prompt, its seed `problem_seed(seed, problem.id)`;
- `add_candidates(builder, parent_id, samples, prior, prior_temperature, max_depth)`: children
  of a node from a policy's candidate steps (empty texts dropped, duplicates merged, priors from
  `search.puct.sibling_priors`), each terminal one judged by the task;
- `TreeBuilder.add_child`, `mark_dead_end`, `rollout_value`, `backup` and `freeze` (the finished
  `SearchTree`);
- `call_seed(problem_seeds, *salt)`: the sampling seed of one batched policy call, so a tree is a
  function of (problems in its batch, policy, seed), whatever ran before;
- `SearchBudget`: the run's equal-compute search budget, which reaches an agent only through its
  config's optional `for_budget(budget)` classmethod;
- `TaskResolver` / `default_task_resolver`: how a builder finds the `Task` of a problem.

This module imports no torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

from agents.base import StepSample
from astro_env.errors import UserError
from astro_env.problem import Problem
from astro_env.state import ReasoningState, initial_state, transition
from astro_env.task import Task
from search.puct import PriorKind, backup_value, merge_duplicate_priors, sibling_priors
from search.tree import Node, SearchTree

__all__ = [
    "SearchBudget",
    "TaskResolver",
    "TreeBuilder",
    "WorkingNode",
    "add_candidates",
    "call_seed",
    "default_task_resolver",
    "make_builders",
    "problem_seed",
]


@dataclass(frozen=True)
class SearchBudget:
    """An equal-compute search budget: what a run spends per problem, in MCTS's terms (paper: 32 x 8 x 16, depth 50).

    It is not a search agent's config: an agent whose `Config` has a classmethod
    `for_budget(budget) -> Config` maps it to its own fields (best-of-N: as many whole samples as
    MCTS spends on rollouts); an agent without one keeps its `Config`'s defaults.
    """

    n_iterations: int = 32
    """Select-expand-evaluate-backup cycles per problem (paper: 32)."""
    n_children: int = 8
    """Candidate next steps per expansion (paper: k=8)."""
    n_rollouts: int = 16
    """Rollouts valuing each new child (paper: M=16)."""
    max_depth: int = 50
    """Deepest node of a tree (paper: 50)."""
    step_max_tokens: int = 256
    """Token budget of one proposed step."""
    rollout_max_tokens: int = 1024
    """Token budget of one rollout (the rest of a solution)."""

    def __post_init__(self) -> None:
        for name in ("n_iterations", "n_children", "n_rollouts", "max_depth", "step_max_tokens", "rollout_max_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"search budget {name}={value!r}: use an integer >= 1.")

    @property
    def n_rollouts_total(self) -> int:
        """Rollouts one problem's MCTS may spend: iterations x children x rollouts (what equal compute matches)."""
        return self.n_iterations * self.n_children * self.n_rollouts


TaskResolver = Callable[[str], Task]


def default_task_resolver(name: str) -> Task:
    """`astro_env.get_task(name)` (imported lazily)."""
    from astro_env import get_task

    return get_task(name)


def problem_seed(seed: int, problem_id: str) -> int:
    """A 31-bit seed for one problem: sha256 of (search seed, problem id), stable across runs."""
    digest = hashlib.sha256(f"{seed}\x00{problem_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (2**31)


def call_seed(problem_seeds: Sequence[int], *salt: object) -> int:
    """A 31-bit sampling seed for one batched policy call, from the batch's problem seeds and a salt."""
    digest = hashlib.sha256(repr((tuple(problem_seeds), salt)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (2**31)


@dataclass
class WorkingNode:
    """A node while its tree is being built (mutable); `TreeBuilder.freeze` makes `Node`s."""

    id: int
    parent_id: int | None
    step: str
    depth: int
    prior: float
    state: ReasoningState
    visits: int = 0
    value: float = 0.0
    own_value: float | None = None
    """R(S'): rollout value or terminal verdict; None for the root."""
    terminal: bool = False
    answer: str | None = None
    correct: bool | None = None
    n_tokens: int = 0
    logprob: float = 0.0
    children: list[int] = field(default_factory=list)


class TreeBuilder:
    """Grows one problem's tree: nodes, their states and the search statistics."""

    def __init__(self, problem: Problem, task: Task, delimiter: str, seed: int, agent: str) -> None:
        self.problem = problem
        self.task = task
        self.seed = seed
        self.agent = agent
        self.delimiter = delimiter
        prompt = task.format_prompt(problem)
        self.nodes = [WorkingNode(id=0, parent_id=None, step="", depth=0, prior=1.0, state=initial_state(problem, prompt, delimiter))]
        self._reward_cache: dict[str, float] = {}  # the verifier is pure: score each distinct solution once
        self.stats: dict[str, float | int] = {"n_iterations": 0, "n_rollouts": 0, "n_generated_tokens": 0, "n_policy_calls": 0}

    @property
    def root(self) -> WorkingNode:
        return self.nodes[0]

    def add_child(self, parent_id: int, step: str, prior: float, max_depth: int, n_tokens: int = 0, logprob: float = 0.0) -> WorkingNode:
        """Append the child `step` of `parent_id`, with its terminal verdict decided by the task."""
        parent = self.nodes[parent_id]
        answer = self.task.extract_answer(step)
        if answer is not None:
            correct = bool(self.task.is_correct(self.problem, answer))
            state = transition(parent.state, step, answer=answer, correct=correct)
            terminal = True
        else:
            state = transition(parent.state, step)
            terminal = state.depth >= max_depth
            correct = False if terminal else None
        node = WorkingNode(
            id=len(self.nodes),
            parent_id=parent_id,
            step=step,
            depth=parent.depth + 1,
            prior=prior,
            state=state,
            terminal=terminal,
            answer=answer,
            correct=correct,
            n_tokens=n_tokens,
            logprob=logprob,
        )
        if terminal:
            node.own_value = node.value = 1.0 if correct else 0.0
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def mark_dead_end(self, node_id: int) -> None:
        """A non-terminal node the policy could not continue: a wrong terminal with value 0."""
        node = self.nodes[node_id]
        node.terminal, node.correct, node.own_value, node.value = True, False, 0.0, 0.0

    def rollout_value(self, node_id: int, completions: Sequence) -> float:
        """Mean task reward of `completions` continuing node `node_id`'s solution (memoised per text)."""
        node = self.nodes[node_id]
        prefix = node.state.solution + self.delimiter
        rewards = []
        for completion in completions:
            text = prefix + completion.text
            if text not in self._reward_cache:
                self._reward_cache[text] = float(self.task.reward(self.problem, text))
            rewards.append(self._reward_cache[text])
        return sum(rewards) / len(rewards) if rewards else 0.0

    def backup(self, path: Sequence[int]) -> None:
        """N += 1 along `path` (root first), then recompute Q bottom-up with ASTRO's rule."""
        for node_id in path:
            self.nodes[node_id].visits += 1
        for node_id in reversed(path):
            node = self.nodes[node_id]
            kids = [self.nodes[c] for c in node.children]
            node.value = backup_value([k.value for k in kids], [k.visits for k in kids], node.own_value)

    def freeze(self, **extra_stats: float | int) -> SearchTree:
        """The finished `SearchTree` (stats gain `n_nodes` and `extra_stats`)."""
        nodes = tuple(
            Node(
                id=n.id,
                parent_id=n.parent_id,
                step=n.step,
                depth=n.depth,
                prior=float(n.prior),
                visits=int(n.visits),
                value=float(n.value),
                terminal=bool(n.terminal),
                answer=n.answer,
                correct=n.correct,
                n_tokens=int(n.n_tokens),
                logprob=float(n.logprob),
            )
            for n in self.nodes
        )
        stats = {**self.stats, "n_nodes": len(nodes), **extra_stats}
        return SearchTree(
            problem=self.problem,
            prompt=self.root.state.prompt,
            nodes=nodes,
            delimiter=self.delimiter,
            agent=self.agent,
            seed=self.seed,
            stats=stats,
        )


def make_builders(problems: Sequence[Problem], task_for: TaskResolver, delimiter: str, seed: int, agent: str) -> list[TreeBuilder]:
    """A fresh `TreeBuilder` per problem (one task instance per task name)."""
    tasks: dict[str, Task] = {}
    for p in problems:
        if p.task not in tasks:
            tasks[p.task] = task_for(p.task)
    return [TreeBuilder(p, tasks[p.task], delimiter, problem_seed(seed, p.id), agent) for p in problems]


def add_candidates(builder: TreeBuilder, parent_id: int, samples: Sequence[StepSample], prior: PriorKind, prior_temperature: float, max_depth: int) -> list[WorkingNode]:
    """Children of `parent_id` from candidate steps (empty texts dropped, duplicates merged)."""
    samples = [s for s in samples if s.text.strip()]
    priors = sibling_priors([s.mean_logprob for s in samples], prior, prior_temperature)
    children = []
    for text, merged_prior, members in merge_duplicate_priors([s.text for s in samples], priors):
        first = samples[members[0]]
        children.append(builder.add_child(parent_id, text, merged_prior, max_depth, first.n_tokens, first.logprob))
    return children
