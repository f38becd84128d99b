"""`astro search`: build one search tree per problem into an append-only, resumable JSONL file.

    astro search --problems math500 --policy ./policy --out trees.jsonl --shard 0/4
    astro search --countdown 100 --seed 1 --policy countdown --out trees.jsonl --agent mcts

Killed at any moment and started again with the same arguments, it finishes with every tree
exactly once. Prints one JSON summary line at the end.
"""

from __future__ import annotations

import argparse
import json
import sys

from search.baselines import BeamConfig, BestOfNConfig
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
    d_mcts, d_bon, d_beam = MCTSConfig(), BestOfNConfig(), BeamConfig()
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
    pol.add_argument("--backend", choices=["transformers", "vllm", "openai", "countdown"], help="policy backend (default: countdown for --policy countdown, else transformers)")
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
    s.add_argument("--agent", choices=["mcts", "best_of_n", "beam"], default="mcts", help="search agent")
    s.add_argument("--search-seed", type=int, default=0, help="search seed (per-problem seeds derive from it)")
    s.add_argument("--batch-problems", type=int, default=SearchConfig.batch_problems, help="problems searched together")
    s.add_argument("--delimiter", default="\n\n", help="step delimiter")
    s.add_argument("--n-iterations", type=int, default=d_mcts.n_iterations, help="MCTS iterations (paper: 32)")
    s.add_argument("--n-children", type=int, default=d_mcts.n_children, help="MCTS candidates per expansion (paper: k=8)")
    s.add_argument("--n-rollouts", type=int, default=d_mcts.n_rollouts, help="rollouts per new child (paper: M=16); beam: with --beam-score rollout")
    s.add_argument("--max-depth", type=int, default=d_mcts.max_depth, help="steps before a path is cut (paper: 50)")
    s.add_argument("--c-puct", type=float, default=d_mcts.c_puct, help="PUCT exploration constant")
    s.add_argument("--prior", choices=["logprob_softmax", "uniform"], default=d_mcts.prior, help="sibling prior")
    s.add_argument("--unvisited-value", choices=["rollout", "zero"], default=d_mcts.unvisited_value, help="Q PUCT uses for a child never selected")
    s.add_argument("--step-max-tokens", type=int, default=d_mcts.step_max_tokens, help="token budget of a step")
    s.add_argument("--rollout-max-tokens", type=int, default=d_mcts.rollout_max_tokens, help="token budget of a rollout / best-of-N sample")
    s.add_argument("--temperature", type=float, default=d_mcts.temperature, help="sampling temperature")
    s.add_argument("--top-p", type=float, default=d_mcts.top_p, help="nucleus mass")
    s.add_argument("--n-samples", type=int, default=d_bon.n_samples, help="best-of-N: solutions per problem")
    s.add_argument("--beam-width", type=int, default=d_beam.beam_width, help="beam: partial solutions kept")
    s.add_argument("--n-expansions", type=int, default=d_beam.n_expansions, help="beam: candidates per beam")
    s.add_argument("--beam-score", choices=["logprob", "rollout"], default=d_beam.score, help="beam ranking")
    return p


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig the parsed arguments describe."""
    common = dict(temperature=args.temperature, top_p=args.top_p)
    mcts = MCTSConfig(
        n_iterations=args.n_iterations,
        n_children=args.n_children,
        n_rollouts=args.n_rollouts,
        max_depth=args.max_depth,
        c_puct=args.c_puct,
        prior=args.prior,
        unvisited_value=args.unvisited_value,
        step_max_tokens=args.step_max_tokens,
        rollout_max_tokens=args.rollout_max_tokens,
        **common,
    )
    best_of_n = BestOfNConfig(n_samples=args.n_samples, max_tokens=args.rollout_max_tokens, max_depth=args.max_depth, **common)
    beam = BeamConfig(
        beam_width=args.beam_width,
        n_expansions=args.n_expansions,
        score=args.beam_score,
        n_rollouts=args.n_rollouts,
        max_depth=args.max_depth,
        step_max_tokens=args.step_max_tokens,
        rollout_max_tokens=args.rollout_max_tokens,
        **common,
    )
    return SearchConfig(
        agent=args.agent,
        mcts=mcts,
        best_of_n=best_of_n,
        beam=beam,
        seed=args.search_seed,
        batch_problems=args.batch_problems,
        delimiter=args.delimiter,
        executor=executor_config(args),
    )


def load_problem_set(args: argparse.Namespace) -> list:
    """The problems named by --problems or generated by --countdown (cut to --limit)."""
    if (args.problems is None) == (args.countdown is None):
        raise SystemExit("astro search: give exactly one of --problems NAME_OR_FILE or --countdown N.")
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
    problems = load_problem_set(args)
    from agents.base import PolicyConfig

    backend = args.backend or ("countdown" if args.policy == "countdown" else "transformers")
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
