"""`astro search`: build one search tree per problem into an append-only, resumable JSONL file.

    astro search --problems math500 --policy ./policy --out trees.jsonl --shard 0/4
    astro search --countdown 100 --seed 1 --policy countdown --out trees.jsonl --agent mcts

Killed at any moment and started again with the same arguments, it finishes with every tree
exactly once. Prints one JSON summary line at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from astro_env.registry import POLICIES, SEARCH_AGENTS
from search.agent import agent_config, parse_options, search_agent_class
from search.executor import ShardsFailed, add_executor_arguments, configure_logging, executor_config, policy_for
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees


def parse_shard(text: str) -> tuple[int, int]:
    """`"i/n"` -> (i, n) with 0 <= i < n."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: use i/n, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need n >= 1 and 0 <= i < n")
    return index, count


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="astro search", description=__doc__.split("\n")[0])
    src = p.add_argument_group("problems")
    src.add_argument("--problems", help="benchmark name (math500, amc23, aime24, aime25) or a problems .jsonl file")
    src.add_argument("--countdown", type=int, metavar="N", help="generate N Countdown problems instead of --problems")
    src.add_argument("--countdown-numbers", type=int, default=3, help="numbers per generated Countdown problem")
    src.add_argument("--seed", type=int, default=0, help="seed of the Countdown generator")
    src.add_argument("--limit", type=int, help="use only the first N problems")
    src.add_argument("--data-dir", help="benchmark data directory (default: $ASTRO_DATA_DIR, else ../shared/data)")
    pol = p.add_argument_group("policy")
    pol.add_argument("--policy", required=True, help="'countdown' (symbolic proposer) or a model directory / hub name")
    pol.add_argument("--backend", help="policy backend: " + ", ".join(POLICIES.names()) + ", or package.module:factory (default: countdown for --policy countdown, else transformers)")
    pol.add_argument("--base-url", default="http://127.0.0.1:8000/v1", help="OpenAI-compatible server (openai backend)")
    pol.add_argument("--device", default="auto", help="torch device of the transformers backend")
    pol.add_argument("--max-batch-size", type=int, default=64, help="sequences generated together (transformers backend)")
    pol.add_argument("--policy-seed", type=int, default=0, help="backend seed")
    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, help="trees JSONL file (appended; resumed when it exists)")
    out.add_argument("--shard", type=parse_shard, default=(0, 1), help="i/n: search problems whose index %% n == i")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_arguments(p)
    s = p.add_argument_group("search")
    s.add_argument("--agent", "--search-agent", dest="agent", default="mcts", help="search agent: " + ", ".join(SEARCH_AGENTS.names()) + ", or package.module:Class (plug-ins add names through the astro.search_agents entry points)")
    s.add_argument("--search-option", dest="search_options", action="append", default=[], metavar="KEY=VALUE", help="a field of the agent's own config (repeatable), e.g. --search-option n_iterations=8")
    s.add_argument("--search-seed", type=int, default=0, help="search seed (per-problem seeds derive from it)")
    s.add_argument("--batch-problems", type=int, default=SearchConfig.batch_problems, help="problems searched together")
    s.add_argument("--delimiter", default="\n\n", help="step delimiter")
    budget = p.add_argument_group("search budget (shorthands for --search-option; each must be a field of the chosen agent's config)")
    for flag, dest, typ, helptext in _BUDGET_FLAGS:
        budget.add_argument(flag, dest=dest, type=typ, default=None, help=helptext)
    return p


_BUDGET_FLAGS = [
    ("--n-iterations", "n_iterations", int, f"MCTS iterations (paper: 32; default {MCTSConfig.n_iterations})"),
    ("--n-children", "n_children", int, f"MCTS candidates per expansion (paper: k=8; default {MCTSConfig.n_children})"),
    ("--n-rollouts", "n_rollouts", int, f"rollouts per new child (paper: M=16; default {MCTSConfig.n_rollouts}); beam: with --beam-score rollout"),
    ("--max-depth", "max_depth", int, f"steps before a path is cut (paper: 50; default {MCTSConfig.max_depth})"),
    ("--c-puct", "c_puct", float, "PUCT exploration constant"),
    ("--prior", "prior", str, "sibling prior: logprob_softmax or uniform"),
    ("--unvisited-value", "unvisited_value", str, "Q PUCT uses for a child never selected: rollout or zero"),
    ("--step-max-tokens", "step_max_tokens", int, "token budget of a step"),
    ("--rollout-max-tokens", "rollout_max_tokens", int, "token budget of a rollout / best-of-N sample"),
    ("--temperature", "temperature", float, "sampling temperature"),
    ("--top-p", "top_p", float, "nucleus mass"),
    ("--n-samples", "n_samples", int, "best-of-N: solutions per problem"),
    ("--beam-width", "beam_width", int, "beam: partial solutions kept"),
    ("--n-expansions", "n_expansions", int, "beam: candidates per beam"),
    ("--beam-score", "score", str, "beam ranking: logprob or rollout"),
]
_ALIASES = {"rollout_max_tokens": "max_tokens"}
"""A shorthand whose field the agent names differently (best-of-N's sample budget is `max_tokens`)."""


def search_options(args: argparse.Namespace) -> dict:
    """The agent-config values the command line gives: budget shorthands, then --search-option items."""
    cls = search_agent_class(args.agent)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    options: dict = {}
    for _, dest, _, _ in _BUDGET_FLAGS:
        value = getattr(args, dest)
        if value is None:
            continue
        key = dest if dest in fields or _ALIASES.get(dest) not in fields else _ALIASES[dest]
        options[key] = value
    options.update(parse_options(args.search_options))
    return options


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig the parsed arguments describe."""
    return SearchConfig(
        agent=args.agent,
        agent_config=agent_config(args.agent, search_options(args)),
        seed=args.search_seed,
        batch_problems=args.batch_problems,
        delimiter=args.delimiter,
        executor=executor_config(args),
    )


def load_problem_set(args: argparse.Namespace) -> list:
    """The problems named by --problems or generated by --countdown (cut to --limit)."""
    if (args.problems is None) == (args.countdown is None):
        raise SystemExit("astro search: give exactly one of --problems NAME_OR_FILE or --countdown N.")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit {args.limit}: use >= 1 (the first N problems), or leave it out for all.")
    if args.countdown is not None:
        from astro_env.countdown import CountdownConfig, generate_problems

        problems = generate_problems(args.countdown, seed=args.seed, config=CountdownConfig(n_numbers=args.countdown_numbers))
        return problems[: args.limit] if args.limit is not None else problems
    from astro_env.loaders import load_problems

    return load_problems(args.problems, data_dir=args.data_dir, limit=args.limit)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = search_config(args)
    except ValueError as exc:
        print(f"astro search: {exc}", file=sys.stderr)
        return 2
    from agents.base import PolicyConfig

    backend = args.backend or ("countdown" if args.policy == "countdown" else "transformers")
    try:  # bad problems or a missing model: one line, before any tree file is written
        problems = load_problem_set(args)
        policy = policy_for(
            PolicyConfig(
                backend=backend,
                model="" if backend == "countdown" else args.policy,
                base_url=args.base_url,
                device=args.device,
                max_batch_size=args.max_batch_size,
                step_max_tokens=args.step_max_tokens,
                seed=args.policy_seed,
            ),
            config.executor,
        )
    except ValueError as exc:
        print(f"astro search: {exc}", file=sys.stderr)
        return 2
    if config.executor.kind == "ray":
        configure_logging()
    try:
        trees = search_trees(problems, policy, config, out_path=args.out, shard=args.shard, progress=not args.no_progress)
    except ValueError as exc:
        print(f"astro search: {exc}", file=sys.stderr)
        return 2
    except ShardsFailed as exc:
        print(f"astro search: {exc}", file=sys.stderr)
        return 1
    n_correct = sum(1 for t in trees if t.correct_terminals())
    summary = {
        "out": str(args.out),
        "agent": config.agent,
        "n_trees": len(trees),
        "search/correct_share": n_correct / len(trees) if trees else 0.0,
        "search/n_nodes": sum(len(t) for t in trees),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
