"""Search trees to node sequences (ASTRO's Algorithm 1), Direct paths, and SFT traces.

`linearize(tree, config, rng)` is the pure core: from one tree it returns the paper's mix of
node sequences (one direct solution with k=0 and three search solutions with k in 1..3
wrong attempts before the correct one; the paper uses 1..2). `direct_sequences` gives the Direct arm's plain
correct paths. `build_traces` verbalises either arm into `Trace` records; `trace_stats` gives
the statistics table (problems, trajectories, backtracks, restarts per source).
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Literal, Mapping, Sequence

from search.trace import Trace
from search.tree import Node, SearchTree
from search.verbalize import PhraseBank, StepRewriter, render, verbalize

Equivalence = Callable[[str, str], bool]


@dataclass(frozen=True)
class LinearizeConfig:
    """How trees become node sequences and traces (`astro linearize` flags mirror it)."""

    k_values: tuple[int, ...] = (1, 2, 3)
    """Wrong attempts before the correct one in a search solution, drawn uniformly (paper: 1..2;
    ours reaches 3 so a model sees itself recover after more than two misses)."""
    n_search_per_problem: int = 3
    """Search solutions (k >= 1) drawn per tree (paper: 3)."""
    n_direct_per_problem: int = 1
    """Direct solutions (k = 0) in the ASTRO arm per tree (paper: 1)."""
    wrong_choice: Literal["uniform", "q"] = "uniform"
    """Which wrong terminals: uniform over distinct answers, or weighted by the Q of the
    terminal's parent (how promising the branch looked before it went wrong)."""
    wrong_from: Literal["any", "dead_start", "new_start"] = "any"
    """Which wrong terminals may be attempts: any (paper); only those whose first step is dead (no
    correct terminal below it in the tree and Q = 0: no rollout from it reached the answer), so a
    trace never misses after a first step from which the answer was reachable ("dead_start"); or
    those whose first step neither the correct path nor an earlier attempt of the trace takes
    ("new_start"). With either, every jump is a restart (the attempts share no step with the
    correct path); with "new_start" each restart also begins with a first step the trace has not
    written, as the restart phrase ("try a different approach") says."""
    prefer_backtracks: bool = True
    """Draw wrong terminals first among those whose path shares a step with the chosen correct
    path (the jump to it is then a backtrack, not a restart), then among the rest. The paper
    draws uniformly; on small trees uniform draws are mostly restarts."""
    dead_branch_share: float = 0.0
    """Share of search solutions with k >= 2 whose wrong attempts stay in one dead branch: the first
    enters a step off the correct path below which the tree holds no correct terminal, the next ones
    backtrack inside that branch and miss again, and only then does the jump leave it for the correct
    path (a restart when the branch starts at the root). A model that backtracks to the step it just
    wrote lands in such branches at test time; the paper's draw (0) never shows one, nor the way out."""
    backtrack_point: Literal["lca", "root", "parent"] = "lca"
    """Where a jump lands: the lowest common ancestor of the previous terminal and the next
    path (paper); always the root (every jump a restart, shared steps rewritten); or the LCA's
    parent (one step further back than needed, rewriting the LCA's step)."""
    style: Literal["phrases", "markers", "off"] = "phrases"
    """Phrase-bank style: ASTRO's sentences, explicit marker tokens (ablation), or no reflection."""
    phrases_path: str | None = None
    """Phrase bank JSON (default: search/phrases.json)."""
    high_q_threshold: float = 0.75
    """Intermediate nodes with Q at least this are followed by the confirm phrase (ASTRO arm)."""
    confirm_intermediate: bool = True
    """Write the confirm phrase after high-Q intermediate nodes."""
    confirm_final: bool = True
    """Write the confirm phrase after the final (correct) node."""
    restate_problem: bool = False
    """After each restart, write the problem statement again (a chunk of its own, trained), so the
    next attempt starts from the numbers and the goal written just above it instead of from a
    prompt a hundred tokens back: a small model copies from what is near (measured on the default:
    without it, the model's attempts after a restart state the wrong target or use numbers the
    prompt does not give). The paper restarts without restating (False)."""
    dedup: bool = True
    """Drop sequences of a tree whose node signature (attempt starts and nodes) repeats."""
    mask_wrong_steps: bool = False
    """Keep what the wrong attempts write off the correct path out of the SFT loss (the trace's
    `masked_spans`; the text stays in the context). The reflections, the comparisons, the jumps and
    the correct path are trained, so a model learns to check and go back without learning to write
    the misses themselves. The paper trains on every token (False)."""

    def __post_init__(self) -> None:
        if not self.k_values or any(k < 1 for k in self.k_values):
            raise ValueError(f"k_values={self.k_values}: give one or more k >= 1 (paper: (1, 2)).")
        if self.n_search_per_problem < 0 or self.n_direct_per_problem < 0:
            raise ValueError("n_search_per_problem and n_direct_per_problem must be >= 0 (paper: 3 and 1).")
        if self.n_search_per_problem + self.n_direct_per_problem == 0:
            raise ValueError("n_search_per_problem + n_direct_per_problem is 0: no sequence would be made.")
        if self.wrong_from not in ("any", "dead_start", "new_start"):
            raise ValueError(f"wrong_from={self.wrong_from!r}: use 'any' (paper), 'dead_start' or 'new_start'.")
        if self.wrong_choice not in ("uniform", "q"):
            raise ValueError(f"wrong_choice={self.wrong_choice!r}: use 'uniform' or 'q'.")
        if self.backtrack_point not in ("lca", "root", "parent"):
            raise ValueError(f"backtrack_point={self.backtrack_point!r}: use 'lca', 'root' or 'parent'.")
        if self.style not in ("phrases", "markers", "off"):
            raise ValueError(f"style={self.style!r}: use 'phrases', 'markers' or 'off'.")
        if not 0.0 <= self.dead_branch_share <= 1.0:
            raise ValueError(f"dead_branch_share={self.dead_branch_share}: use a share in [0, 1] (0: the paper's draw).")
        if not 0.0 <= self.high_q_threshold <= 1.0 + 1e-9:
            raise ValueError(f"high_q_threshold={self.high_q_threshold}: use a value in [0, 1] (ours: 0.75).")

    def phrase_bank(self) -> PhraseBank:
        """The phrase bank this config selects."""
        return PhraseBank.load(self.phrases_path, self.style)


@dataclass(frozen=True)
class Attempt:
    """One branch written in a sequence: the nodes below `start_id` (0 = the root), in order,
    ending at a terminal."""

    start_id: int
    node_ids: tuple[int, ...]


@dataclass(frozen=True)
class NodeSequence:
    """A linearised walk through one tree: wrong attempts, then the correct one.

    Attempt i > 0 is reached by a jump from the previous attempt's terminal to its
    `start_id`: a restart when that is the root, a backtrack otherwise.
    """

    attempts: tuple[Attempt, ...]

    @property
    def node_ids(self) -> tuple[int, ...]:
        """Every node written, in order (a node repeats when a jump rewrites it)."""
        return tuple(i for a in self.attempts for i in a.node_ids)

    @property
    def terminal_ids(self) -> tuple[int, ...]:
        return tuple(a.node_ids[-1] for a in self.attempts)

    @property
    def k(self) -> int:
        """Wrong attempts before the correct one."""
        return len(self.attempts) - 1

    @property
    def n_restarts(self) -> int:
        return sum(1 for a in self.attempts[1:] if a.start_id == 0)

    @property
    def n_backtracks(self) -> int:
        return sum(1 for a in self.attempts[1:] if a.start_id != 0)

    @property
    def signature(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """Identity for deduplication: attempt starts and nodes."""
        return tuple((a.start_id, a.node_ids) for a in self.attempts)


# ---------------------------------------------------------------------------- pure core


def string_equivalence(a: str, b: str) -> bool:
    """Whitespace-insensitive string equality (the fallback equivalence)."""
    return "".join(a.split()) == "".join(b.split())


def task_equivalence(task_name: str) -> Equivalence:
    """The task's `is_equivalent` (astro_env.get_task), or string equality when unavailable."""
    try:
        from astro_env import get_task  # type: ignore[attr-defined]

        return get_task(task_name).is_equivalent
    except (ImportError, AttributeError, KeyError, ValueError) as exc:
        warnings.warn(f"no task equivalence for {task_name!r} ({exc}); using string equality.", stacklevel=2)
        return string_equivalence


def wrong_terminals(tree: SearchTree) -> list[Node]:
    """Terminals with an answer that is not correct (depth-cut nodes without an answer excluded)."""
    return [n for n in tree.nodes if n.terminal and n.answer is not None and not n.correct]


def good_terminals(tree: SearchTree, good: Collection[int] | None = None) -> list[Node]:
    """Correct terminals, restricted to the ids in `good` (a curation result) when given."""
    return [n for n in tree.correct_terminals() if good is None or n.id in good]


def answer_classes(nodes: Sequence[Node], is_equivalent: Equivalence) -> list[list[Node]]:
    """`nodes` grouped by equivalent answers (each node joins the first class it matches)."""
    classes: list[list[Node]] = []
    for node in nodes:
        for cls in classes:
            if _safe_equivalent(is_equivalent, cls[0].answer or "", node.answer or ""):
                cls.append(node)
                break
        else:
            classes.append([node])
    return classes


def _safe_equivalent(is_equivalent: Equivalence, a: str, b: str) -> bool:
    try:
        return bool(is_equivalent(a, b))
    except Exception:  # noqa: BLE001 - an equivalence that fails counts as "different"
        return a == b


def _weighted_sample(items: list[Any], weights: list[float], k: int, rng: random.Random) -> list[Any]:
    """`k` distinct items, each draw proportional to its weight among those left."""
    items, weights, out = list(items), list(weights), []
    for _ in range(min(k, len(items))):
        total = sum(weights)
        r = rng.random() * total
        acc, pick = 0.0, len(items) - 1
        for idx, w in enumerate(weights):
            acc += w
            if r < acc:
                pick = idx
                break
        out.append(items.pop(pick))
        weights.pop(pick)
    return out


def sample_wrong(
    tree: SearchTree,
    k: int,
    rng: random.Random,
    is_equivalent: Equivalence,
    wrong_choice: str = "uniform",
    exclude_answers: Sequence[str] = (),
    prefer_path: Sequence[int] = (),
    allowed: Collection[int] | None = None,
) -> list[Node]:
    """Up to `k` wrong terminals with pairwise non-equivalent answers (none equivalent to
    `exclude_answers`), in draw order: a class of equivalent answers is drawn first, uniformly
    or by the Q of its best member's parent, then one member of it uniformly (or by that Q).
    With `prefer_path` (node ids of a path), classes are drawn first among the terminals whose
    path shares a non-root node with it (and a member among those), then among the rest; those
    drawn from the rest come first in the result. `allowed` (node ids) restricts the candidates."""
    candidates = [
        n
        for n in wrong_terminals(tree)
        if (allowed is None or n.id in allowed) and not any(_safe_equivalent(is_equivalent, a, n.answer or "") for a in exclude_answers)
    ]
    classes = answer_classes(candidates, is_equivalent)
    if prefer_path:
        shared = set(prefer_path) - {0}

        def shares(n: Node) -> bool:
            return any(p.id in shared for p in tree.path(n.id))

        near = [[n for n in c if shares(n)] for c in classes]
        near = [c for c in near if c]
        near_answers = [c[0].answer or "" for c in near]
        far = [c for c in classes if not any(_safe_equivalent(is_equivalent, c[0].answer or "", a) for a in near_answers)]
        first = sample_wrong_classes(tree, near, k, rng, wrong_choice)
        # the rest (if any) are written first, so the jumps into the correct path are backtracks
        return sample_wrong_classes(tree, far, k - len(first), rng, wrong_choice) + first
    return sample_wrong_classes(tree, classes, k, rng, wrong_choice)


def sample_wrong_classes(tree: SearchTree, classes: list[list[Node]], k: int, rng: random.Random, wrong_choice: str = "uniform") -> list[Node]:
    """Up to `k` nodes, one from each of `k` distinct classes, drawn as `sample_wrong` describes."""
    if k <= 0 or not classes:
        return []
    if wrong_choice == "q":

        def weight(n: Node) -> float:
            parent = tree.nodes[n.parent_id] if n.parent_id is not None else n
            return max(parent.value, 0.0) + 1e-3

        chosen = _weighted_sample(classes, [max(weight(n) for n in c) for c in classes], k, rng)
        return [_weighted_sample(c, [weight(n) for n in c], 1, rng)[0] for c in chosen]
    chosen = rng.sample(classes, min(k, len(classes)))
    return [rng.choice(c) for c in chosen]


def sample_new_starts(tree: SearchTree, k: int, rng: random.Random, is_equivalent: Equivalence,
                      wrong_choice: str, final: Node) -> list[Node]:
    """Up to `k` wrong terminals drawn one at a time as `sample_wrong` draws them, each with an
    answer no earlier draw (nor the problem's answer) has and a first step that neither `final`'s
    path nor an earlier draw takes: the attempts of a trace that restarts a different way each time."""
    first_step = {n.id: tree.path(n.id)[1].id for n in wrong_terminals(tree)}
    used = {tree.path(final.id)[1].id}
    answers = [tree.problem.answer]
    out: list[Node] = []
    for _ in range(k):
        allowed = {i for i, first in first_step.items() if first not in used}
        got = sample_wrong(tree, 1, rng, is_equivalent, wrong_choice, answers, (), allowed)
        if not got:
            break
        out.append(got[0])
        used.add(first_step[got[0].id])
        answers.append(got[0].answer or "")
    return out


def dead_nodes(tree: SearchTree) -> set[int]:
    """Ids of the non-root nodes below which the tree holds no correct terminal and whose Q is 0
    (no rollout or visit below them reached the answer): states the search found no way out of."""
    alive = {n.id: bool(n.terminal and n.correct) for n in tree.nodes}
    for node in reversed(tree.nodes[1:]):  # children have larger ids than their parents
        alive[node.parent_id or 0] = alive[node.parent_id or 0] or alive[node.id]
    return {n.id for n in tree.nodes[1:] if not alive[n.id] and n.value <= 0.0}


def dead_branches(tree: SearchTree, avoid: Collection[int], is_equivalent: Equivalence,
                  exclude_answers: Sequence[str] = ()) -> list[tuple[Node, list[list[Node]]]]:
    """(branch node, its wrong terminals grouped by answer) for each non-terminal node outside
    `avoid` (node ids, e.g. the correct path) that is dead (`dead_nodes`) and holds wrong terminals
    of at least two non-equivalent answers (none equivalent to `exclude_answers`)."""
    below: dict[int, list[Node]] = {n.id: [] for n in tree.nodes}
    for node in reversed(tree.nodes[1:]):  # children have larger ids than their parents
        if node.terminal and not node.correct and node.answer is not None:
            below[node.id].append(node)
        below[node.parent_id or 0].extend(below[node.id])
    dead = dead_nodes(tree)
    out = []
    for node in tree.nodes[1:]:
        if node.terminal or node.id in avoid or node.id not in dead:
            continue
        wrong = [n for n in below[node.id]
                 if not any(_safe_equivalent(is_equivalent, a, n.answer or "") for a in exclude_answers)]
        classes = answer_classes(sorted(wrong, key=lambda n: n.id), is_equivalent)
        if len(classes) >= 2:
            out.append((node, classes))
    return out


def merge_paths(tree: SearchTree, terminal_ids: Sequence[int], backtrack_point: str = "lca") -> NodeSequence:
    """The sequence that visits each terminal of `terminal_ids` in order (Algorithm 1's merge).

    Each path after the first is written from where the jump lands: the lowest common
    ancestor of the previous terminal and the new path ("lca"), the root ("root"), or the
    LCA's parent ("parent"). Algorithm 1 appends "the nodes of the path not yet in the
    sequence"; we read "in the sequence" as "on the current branch" (abandoned branches are
    left), which is what the paper's invariant (the jump lands on an ancestor of the previous
    terminal) requires: the literal reading could resume below a node of an older branch.
    A jump never lands on the terminal itself (it lands on its parent at the latest).
    """
    attempts: list[Attempt] = []
    prev: int | None = None
    for term in terminal_ids:
        path = [n.id for n in tree.path(term)]
        if prev is None:
            start = 0
        else:
            prev_ancestors = {n.id for n in tree.path(prev)}
            lca = max((i for i in path if i in prev_ancestors), key=lambda i: tree.nodes[i].depth)
            if lca == prev:
                lca = tree.nodes[prev].parent_id or 0
            if backtrack_point == "root":
                start = 0
            elif backtrack_point == "parent":
                start = (tree.nodes[lca].parent_id or 0) if lca != 0 else 0
            else:
                start = lca
        below = path[path.index(start) + 1 :]
        attempts.append(Attempt(start, tuple(below)))
        prev = term
    return NodeSequence(tuple(attempts))


def linearize(
    tree: SearchTree,
    config: LinearizeConfig,
    rng: random.Random,
    is_equivalent: Equivalence | None = None,
    good: Collection[int] | None = None,
) -> list[NodeSequence]:
    """The tree's node sequences: `n_direct_per_problem` with k=0, then `n_search_per_problem`
    with k drawn from `k_values` (clamped to the distinct wrong answers available).

    Every sequence ends at a correct terminal of `good` (default: all correct terminals),
    visits wrong terminals with pairwise non-equivalent answers (`is_equivalent`, default:
    the problem task's), and jumps only from a terminal to an ancestor of it. Same tree,
    config and rng state: same result. Empty when the tree has no (good) correct terminal.
    Duplicates (same signature) are dropped when `config.dedup`.
    """
    correct = good_terminals(tree, good)
    if not correct:
        return []
    eq = is_equivalent or task_equivalence(tree.problem.task)
    out: list[NodeSequence] = []
    seen: set = set()
    plan = [0] * config.n_direct_per_problem + [rng.choice(config.k_values) for _ in range(config.n_search_per_problem)]
    for k in plan:
        final = rng.choice(correct)
        prefer = [n.id for n in tree.path(final.id)] if config.prefer_backtracks else []
        wrong: list[Node] = []
        if k >= 2 and config.dead_branch_share > 0 and rng.random() < config.dead_branch_share:
            branches = dead_branches(tree, {n.id for n in tree.path(final.id)}, eq, [tree.problem.answer])
            if branches:
                _, classes = rng.choice(branches)
                wrong = sample_wrong_classes(tree, classes, k, rng, config.wrong_choice)
        if k and not wrong and config.wrong_from == "new_start":
            wrong = sample_new_starts(tree, k, rng, eq, config.wrong_choice, final)
        elif k and not wrong:
            allowed = None
            if config.wrong_from == "dead_start":
                dead = dead_nodes(tree)
                allowed = {n.id for n in wrong_terminals(tree) if tree.path(n.id)[1].id in dead}
            wrong = sample_wrong(tree, k, rng, eq, config.wrong_choice, [tree.problem.answer], prefer, allowed)
        seq = merge_paths(tree, [n.id for n in wrong] + [final.id], config.backtrack_point)
        if config.dedup:
            if seq.signature in seen:
                continue
            seen.add(seq.signature)
        out.append(seq)
    return out


def direct_sequences(
    tree: SearchTree, n: int, rng: random.Random, good: Collection[int] | None = None
) -> list[NodeSequence]:
    """`n` plain correct root-to-terminal paths: distinct ones first (shuffled), then drawn
    with replacement when the tree has fewer than `n`."""
    correct = [t.id for t in good_terminals(tree, good)]
    if not correct or n <= 0:
        return []
    order = rng.sample(correct, len(correct))[:n]
    order += [rng.choice(correct) for _ in range(n - len(order))]
    return [merge_paths(tree, [t]) for t in order]


# ---------------------------------------------------------------------------- traces


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens of `text` under `tokenizer` (an object with `encode`, or a callable returning
    ids), else its number of characters."""
    if tokenizer is None:
        return len(text)
    if hasattr(tokenizer, "encode"):
        try:
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:
            return len(tokenizer.encode(text))
    return len(tokenizer(text))


def tree_rng(seed: int, tree: SearchTree, index: int) -> random.Random:
    """The rng of one tree: depends on the seed and the problem id only (so sharding or
    reordering trees does not change a tree's sequences)."""
    return random.Random(f"{seed}:{tree.problem.id}:{tree.seed}")


def _source(tree: SearchTree) -> str:
    return tree.problem.source or tree.problem.task


def build_traces(
    trees: Iterable[SearchTree],
    config: LinearizeConfig,
    arm: Literal["astro", "direct"],
    seed: int = 0,
    tokenizer: Any = None,
    *,
    is_equivalent: Equivalence | None = None,
    good: Mapping[str, Collection[int]] | None = None,
    rewriter: StepRewriter | None = None,
) -> list[Trace]:
    """The traces of one arm, tree by tree.

    `astro`: `linearize` + `verbalize` with the config's phrase bank. `direct`: as many plain
    correct paths per tree as the ASTRO arm makes from that tree (so both arms have the same
    problems and counts; their tokens differ, see `trace_stats`). `good` maps a problem id to
    the correct terminal ids that passed curation (absent id: all correct terminals).
    `n_tokens` counts `tokenizer` tokens of the completion, else characters.
    """
    if arm not in ("astro", "direct"):
        raise ValueError(f"arm={arm!r}: use 'astro' or 'direct'.")
    phrases = config.phrase_bank()
    traces: list[Trace] = []
    eq_cache: dict[str, Equivalence] = {}
    for idx, tree in enumerate(trees):
        task = tree.problem.task
        eq = is_equivalent or eq_cache.setdefault(task, task_equivalence(task))
        tree_good = good.get(tree.problem.id) if good is not None else None
        rng = tree_rng(seed, tree, idx)
        sequences = linearize(tree, config, rng, eq, tree_good)
        if arm == "direct":
            sequences = direct_sequences(tree, len(sequences), rng, tree_good)
        for seq in sequences:
            masked: tuple[tuple[int, int], ...] = ()
            if arm == "astro":
                out = render(
                    tree,
                    seq,
                    phrases,
                    high_q_threshold=config.high_q_threshold,
                    confirm_intermediate=config.confirm_intermediate,
                    confirm_final=config.confirm_final,
                    rewriter=rewriter,
                    restate_problem=config.restate_problem,
                )
                text, n_back, n_rest = out.text(tree.delimiter), out.n_backtracks, out.n_restarts
                if config.mask_wrong_steps:
                    masked = out.off_path_spans(tree.delimiter)
            else:
                text, n_back, n_rest = verbalize(tree, seq, None)
            traces.append(
                Trace(
                    problem_id=tree.problem.id,
                    arm=arm,
                    prompt=tree.prompt,
                    completion=text,
                    n_backtracks=n_back,
                    n_restarts=n_rest,
                    n_tokens=count_tokens(text, tokenizer),
                    k=seq.k,
                    node_ids=seq.node_ids,
                    source=_source(tree),
                    masked_spans=masked,
                )
            )
    return traces


def _row(traces: Sequence[Trace]) -> dict[str, Any]:
    n = len(traces)
    n_tokens = sum(t.n_tokens for t in traces)
    n_back = sum(t.n_backtracks for t in traces)
    n_rest = sum(t.n_restarts for t in traces)
    return {
        "n_problems": len({t.problem_id for t in traces}),
        "n_traces": n,
        "n_backtracks": n_back,
        "n_restarts": n_rest,
        "mean_backtracks": n_back / n if n else 0.0,
        "mean_restarts": n_rest / n if n else 0.0,
        "n_tokens": n_tokens,
        "mean_tokens": n_tokens / n if n else 0.0,
    }


def trace_stats(traces: Sequence[Trace]) -> dict[str, Any]:
    """The statistics table: `{"sources": {source: row}, "total": row, "arms": [...]}`; a row
    has n_problems, n_traces, n_backtracks, n_restarts, their means per trace, n_tokens and
    mean_tokens (the paper's table: problems, trajectories, backtracks, restarts per source)."""
    by_source: dict[str, list[Trace]] = {}
    for t in traces:
        by_source.setdefault(t.source or "unknown", []).append(t)
    return {
        "sources": {src: _row(ts) for src, ts in sorted(by_source.items())},
        "total": _row(traces),
        "arms": sorted({t.arm for t in traces}),
    }


def format_stats(stats: Mapping[str, Any]) -> str:
    """`trace_stats` as a fixed-width text table, one row per source plus the total."""
    header = ("source", "problems", "trajectories", "backtracks", "restarts", "bt/traj", "rs/traj", "tokens/traj")
    rows = [(src, row) for src, row in stats["sources"].items()] + [("total", stats["total"])]
    lines = [header] + [
        (
            src,
            str(r["n_problems"]),
            str(r["n_traces"]),
            str(r["n_backtracks"]),
            str(r["n_restarts"]),
            f"{r['mean_backtracks']:.2f}",
            f"{r['mean_restarts']:.2f}",
            f"{r['mean_tokens']:.1f}",
        )
        for src, r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    fmt = lambda line: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))  # noqa: E731
    return "\n".join([fmt(lines[0]), "  ".join("-" * w for w in widths)] + [fmt(line) for line in lines[1:]])
