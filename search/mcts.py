"""PUCT Monte Carlo tree search over policy-proposed reasoning steps (ASTRO section 2).

One iteration, for every tree of a batch of problems at once:

1. **Select**: from the root, follow `argmax Q + c_puct * P * sqrt(N(S)) / (1 + N(S, a))`
   (`search.puct.select_child`) to a leaf. A child never selected (N = 0) scores with its
   rollout value R, which is its Q under the back-up rule below (no visited children);
   `unvisited_value="zero"` scores it with 0 instead (AlphaZero's first-play value), which
   ignores the rollouts just paid for and finds fewer correct leaves on Countdown.
2. **Expand** a non-terminal leaf: `policy.propose_steps` samples `n_children` candidate steps
   (one call for the leaves of all trees); identical texts are merged into one child whose
   prior is the sum of theirs; priors come from `search.puct.sibling_priors`.
   A child is terminal when the task extracts a final answer from its step (verdict:
   `task.is_correct`) or when it reaches `max_depth` (verdict: wrong, answer None).
3. **Evaluate** each new child: a terminal by its verdict (1.0 / 0.0); any other by
   `n_rollouts` completions from its text (one `policy.complete` call for all new children
   of all trees), each scored by `task.reward(problem, solution + delimiter + completion)`;
   the value R is their mean.
4. **Back up**: N += 1 for every node on the selected path, then bottom-up
   `Q = (sum_i Q_i N_i + R) / (sum_i N_i + 1)` (`search.puct.backup_value`).

A leaf whose expansion yields no non-empty step is a dead end: it becomes a wrong terminal
(answer None, value 0). Selecting a terminal leaf only backs up (no policy call).

Determinism: the sampling seed of every policy call is derived from the per-problem seeds
of the batch (`problem_seed`) and the iteration, so the same problems in the same batch give
the same tree on a deterministic backend, whatever ran before.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

from agents.base import PolicyAgent, SamplingConfig, StepSample, complete_states
from astro_env.problem import Problem
from astro_env.state import DEFAULT_DELIMITER, ReasoningState, initial_state, transition
from astro_env.task import Task
from search.puct import PriorKind, backup_value, merge_duplicate_priors, select_child, sibling_priors
from search.tree import Node, SearchTree

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


@dataclass(frozen=True)
class MCTSConfig:
    """PUCT MCTS budget and rules (defaults: the paper's k=8, M=16, 32 iterations, depth 50)."""

    n_iterations: int = 32
    """Select-expand-evaluate-backup cycles per problem (paper: 32)."""
    n_children: int = 8
    """Candidate next steps sampled when a node is expanded (paper: k=8); duplicates merge."""
    n_rollouts: int = 16
    """Rollouts to a terminal state that value each new non-terminal child (paper: M=16)."""
    max_depth: int = 50
    """Steps after which a path is cut and counted as a wrong terminal (paper: 50)."""
    c_puct: float = 1.0
    """Exploration constant of PUCT (ours: 1.0; the paper does not give it)."""
    prior: PriorKind = "logprob_softmax"
    """Sibling prior: softmax of length-normalised log-probs (ours) or uniform."""
    prior_temperature: float = 1.0
    """Temperature of the log-prob softmax prior."""
    unvisited_value: Literal["rollout", "zero"] = "rollout"
    """Q used by PUCT for a child never selected: 0, or its rollout value R."""
    step_max_tokens: int = 256
    """Token budget of one proposed step."""
    rollout_max_tokens: int = 1024
    """Token budget of one rollout (the rest of a solution)."""
    temperature: float = 1.0
    """Sampling temperature for steps and rollouts."""
    top_p: float = 1.0
    """Nucleus mass for steps and rollouts."""

    def __post_init__(self) -> None:
        if self.n_iterations < 1:
            raise ValueError(f"n_iterations={self.n_iterations}: use >= 1 (paper: 32).")
        if self.n_children < 1:
            raise ValueError(f"n_children={self.n_children} cannot expand a node; use >= 1 (paper: 8).")
        if self.n_rollouts < 1:
            raise ValueError(f"n_rollouts={self.n_rollouts} leaves new children unvalued; use >= 1 (paper: 16).")
        if self.max_depth < 1:
            raise ValueError(f"max_depth={self.max_depth}: use >= 1 (paper: 50).")
        if self.c_puct < 0:
            raise ValueError(f"c_puct={self.c_puct}: use >= 0 (ours: 1.0).")
        if self.prior not in ("logprob_softmax", "uniform"):
            raise ValueError(f"prior={self.prior!r}: use 'logprob_softmax' or 'uniform'.")
        if self.prior_temperature <= 0:
            raise ValueError(f"prior_temperature={self.prior_temperature}: use > 0.")
        if self.unvisited_value not in ("zero", "rollout"):
            raise ValueError(f"unvisited_value={self.unvisited_value!r}: use 'zero' or 'rollout'.")
        if self.step_max_tokens < 1 or self.rollout_max_tokens < 1:
            raise ValueError("step_max_tokens and rollout_max_tokens must be >= 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"temperature={self.temperature}, top_p={self.top_p}: use temperature >= 0 and top_p in (0, 1].")


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


def select_path(builder: TreeBuilder, config: MCTSConfig) -> list[int]:
    """Node ids from the root to the leaf PUCT selects (root first)."""
    path = [0]
    node = builder.root
    while node.children:
        kids = [builder.nodes[c] for c in node.children]
        unvisited = [k.own_value or 0.0 for k in kids] if config.unvisited_value == "rollout" else None
        idx = select_child([k.value for k in kids], [k.prior for k in kids], [k.visits for k in kids], node.visits, config.c_puct, unvisited)
        node = kids[idx]
        path.append(node.id)
    return path


def add_candidates(builder: TreeBuilder, parent_id: int, samples: Sequence[StepSample], prior: PriorKind, prior_temperature: float, max_depth: int) -> list[WorkingNode]:
    """Children of `parent_id` from candidate steps (empty texts dropped, duplicates merged)."""
    samples = [s for s in samples if s.text.strip()]
    priors = sibling_priors([s.mean_logprob for s in samples], prior, prior_temperature)
    children = []
    for text, merged_prior, members in merge_duplicate_priors([s.text for s in samples], priors):
        first = samples[members[0]]
        children.append(builder.add_child(parent_id, text, merged_prior, max_depth, first.n_tokens, first.logprob))
    return children


def mcts_trees(
    problems: Sequence[Problem],
    policy: PolicyAgent,
    config: MCTSConfig = MCTSConfig(),
    seed: int = 0,
    delimiter: str = DEFAULT_DELIMITER,
    task_for: TaskResolver = default_task_resolver,
) -> list[SearchTree]:
    """One MCTS tree per problem (aligned with `problems`), all advanced together.

    Each iteration makes at most two policy calls for the whole batch: one `propose_steps`
    for every selected non-terminal leaf and one `complete` for every new child's rollouts.
    """
    start = time.perf_counter()
    builders = make_builders(problems, task_for, delimiter, seed, "mcts")
    seeds = [b.seed for b in builders]
    step_sampling = dict(max_tokens=config.step_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=(delimiter,))
    rollout_sampling = dict(max_tokens=config.rollout_max_tokens, temperature=config.temperature, top_p=config.top_p, stop=())
    for iteration in range(config.n_iterations):
        paths = [select_path(b, config) for b in builders]
        expand = [i for i, path in enumerate(paths) if not builders[i].nodes[path[-1]].terminal]
        to_roll: list[tuple[int, int]] = []
        if expand:
            states = [builders[i].nodes[paths[i][-1]].state for i in expand]
            sampling = SamplingConfig(**step_sampling, seed=call_seed(seeds, iteration, "expand"))
            proposals = policy.propose_steps(states, config.n_children, sampling)
            if len(proposals) != len(states):
                raise ValueError(f"policy.propose_steps returned {len(proposals)} lists for {len(states)} states.")
            for i, samples in zip(expand, proposals):
                builder, leaf = builders[i], paths[i][-1]
                builder.stats["n_generated_tokens"] += sum(s.n_tokens for s in samples)
                builder.stats["n_policy_calls"] += 1
                children = add_candidates(builder, leaf, samples, config.prior, config.prior_temperature, config.max_depth)
                if not children:
                    builder.mark_dead_end(leaf)
                to_roll += [(i, c.id) for c in children if not c.terminal]
        if to_roll:
            roll_states = [builders[i].nodes[c].state for i, c in to_roll]
            sampling = SamplingConfig(**rollout_sampling, seed=call_seed(seeds, iteration, "rollout"))
            groups = complete_states(policy, roll_states, config.n_rollouts, sampling)
            if len(groups) != len(roll_states):
                raise ValueError(f"policy.complete returned {len(groups)} groups for {len(roll_states)} prompts.")
            for (i, c), group in zip(to_roll, groups):
                builder = builders[i]
                node = builder.nodes[c]
                node.own_value = node.value = builder.rollout_value(c, group)
                builder.stats["n_rollouts"] += len(group)
                builder.stats["n_generated_tokens"] += sum(comp.n_tokens for comp in group)
            for i in {i for i, _ in to_roll}:
                builders[i].stats["n_policy_calls"] += 1
        for builder, path in zip(builders, paths):
            builder.backup(path)
            builder.stats["n_iterations"] += 1
    seconds = time.perf_counter() - start
    return [b.freeze(seconds=seconds, batch_size=len(builders)) for b in builders]
