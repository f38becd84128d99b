"""Search speed: trees/s, nodes/s and backend utilisation for a fixed seed and preset.

    python -m benchmarks.bench_search --preset tiny        # random-init embedded model, CPU
    python -m benchmarks.bench_search --preset countdown   # symbolic proposer (no utilisation)

Utilisation = generated tokens per second during the search / the backend's best batched
generation rate on the same model, measured in the same process by one large
`policy.complete` batch of the same kind of rows as the search's rollouts (same prompts,
same token budget, as many rows as the search's largest rollout call), best of two tries
before and one after the search. Prints one JSON line. On a shared machine the ratio is as
noisy as the load; compare runs made on the same idle machine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

from astro_env.errors import OneLineParser
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees


@dataclass(frozen=True)
class BenchPreset:
    """What one benchmark run searches, and with which policy."""

    policy: str = "tiny"
    """'tiny' (random-init embedded Llama, transformers backend) or 'countdown' (symbolic)."""
    n_problems: int = 32
    """Countdown problems searched."""
    n_numbers: int = 3
    """Numbers per Countdown problem."""
    batch_problems: int = 32
    """Trees advanced together (more: larger expansion batches, higher utilisation)."""
    mcts: MCTSConfig = MCTSConfig(n_iterations=4, n_children=8, n_rollouts=8, step_max_tokens=16, rollout_max_tokens=48)
    """Search budget."""
    hidden_size: int = 128
    """Width of the tiny model (tiny policy)."""
    n_layers: int = 4
    """Depth of the tiny model (tiny policy)."""
    max_batch_size: int = 512
    """Rows generated together by the transformers backend."""
    reference_rows: int = 0
    """Rows of the reference batch measuring the best batched rate (0: as many as the search's
    largest rollout call, batch_problems * n_children * n_rollouts)."""

    @property
    def n_reference_rows(self) -> int:
        return self.reference_rows or self.batch_problems * self.mcts.n_children * self.mcts.n_rollouts


PRESETS = {
    "tiny": BenchPreset(),
    "ci": BenchPreset(n_problems=8, batch_problems=8, mcts=MCTSConfig(n_iterations=2, n_children=4, n_rollouts=4, step_max_tokens=8, rollout_max_tokens=24)),
    "countdown": BenchPreset(policy="countdown", n_problems=64, batch_problems=16, mcts=MCTSConfig(n_iterations=32, n_children=8, n_rollouts=16)),
}


def build_tiny_policy(preset: BenchPreset, device: str, seed: int):
    """A TransformersPolicy over a random-init embedded model (character tokenizer)."""
    from agents.base import PolicyConfig
    from agents.hf import TransformersPolicy
    from training.embedded import ModelConfig, build_model, build_tokenizer

    tokenizer = build_tokenizer(kind="char")
    model_config = ModelConfig(hidden_size=preset.hidden_size, n_layers=preset.n_layers, n_heads=4, intermediate_size=4 * preset.hidden_size)
    model = build_model(tokenizer, model_config, seed=seed)
    config = PolicyConfig(backend="transformers", device=device, max_batch_size=preset.max_batch_size, step_max_tokens=preset.mcts.step_max_tokens, seed=seed)
    model.to("cpu" if device == "auto" else device)
    model.eval()
    return TransformersPolicy(model, tokenizer, config)


def reference_rate(policy, prompts: list[str], preset: BenchPreset, seed: int, repeats: int = 2) -> float:
    """Best generated tokens/s of one large `complete` batch (rollout-shaped rows) over `repeats` tries."""
    from agents.base import SamplingConfig

    n = max(1, preset.n_reference_rows // max(len(prompts), 1))
    sampling = SamplingConfig(max_tokens=preset.mcts.rollout_max_tokens, temperature=preset.mcts.temperature, seed=seed)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        groups = policy.complete(prompts, n, sampling)
        seconds = time.perf_counter() - start
        tokens = sum(c.n_tokens for group in groups for c in group)
        best = max(best, tokens / seconds)
    return best


def run(preset: BenchPreset, seed: int = 0, device: str = "cpu", threads: int = 1, name: str = "") -> dict:
    """The benchmark's result record for `preset` (see the module doc)."""
    from astro_env import get_task

    problems = get_task("countdown", {"n_numbers": preset.n_numbers}).generate(preset.n_problems, seed)
    config = SearchConfig(agent="mcts", agent_config=preset.mcts, seed=seed, batch_problems=preset.batch_problems)
    record: dict = {"bench": "search", "preset": name or preset.policy, "policy": preset.policy, "seed": seed, "n_problems": len(problems)}
    if preset.policy != "tiny":  # a registered backend that needs no model (the symbolic proposer)
        from agents import build_policy
        from agents.base import PolicyConfig

        policy = build_policy(PolicyConfig(backend=preset.policy, seed=seed))
        rate = None
    else:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        policy = build_tiny_policy(preset, device, seed)
        prompts = [get_task(p.task).format_prompt(p) for p in problems]
        policy.complete(prompts[:2], 2, _warmup_sampling())  # warm-up (allocations, kernels)
        rate = reference_rate(policy, prompts, preset, seed)
        record.update(device=str(device), threads=threads, n_params=sum(p.numel() for p in policy.model.parameters()))
    start = time.perf_counter()
    trees = search_trees(problems, policy, config, out_path=None, progress=False)
    seconds = time.perf_counter() - start
    if rate is not None:  # once more after the search: the best rate is the max over both sides
        rate = max(rate, reference_rate(policy, prompts, preset, seed, repeats=1))
    tokens = sum(t.stats["n_generated_tokens"] for t in trees)
    nodes = sum(len(t) for t in trees)
    search_rate = tokens / seconds
    record.update(
        {
            "search/seconds": round(seconds, 3),
            "search/trees_per_s": round(len(trees) / seconds, 3),
            "search/nodes_per_s": round(nodes / seconds, 2),
            "search/n_nodes": nodes,
            "search/n_generated_tokens": tokens,
            "search/tokens_per_s": round(search_rate, 1),
            "search/correct_share": sum(1 for t in trees if t.correct_terminals()) / len(trees),
            "backend/best_tokens_per_s": None if rate is None else round(rate, 1),
            "search/backend_utilisation": None if rate is None else round(search_rate / rate, 3),
            "mcts": {k: getattr(preset.mcts, k) for k in ("n_iterations", "n_children", "n_rollouts", "step_max_tokens", "rollout_max_tokens")},
            "batch_problems": preset.batch_problems,
        }
    )
    return record


def _warmup_sampling():
    from agents.base import SamplingConfig

    return SamplingConfig(max_tokens=4, seed=0)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="astro bench search", description="Search speed: trees/s, nodes/s, backend utilisation.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny", help="benchmark preset")
    parser.add_argument("--seed", type=int, default=0, help="problem, model and search seed")
    parser.add_argument("--device", default="cpu", help="torch device for the tiny model")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--n-problems", type=int, help="override the preset's problem count")
    parser.add_argument("--batch-problems", type=int, help="override the preset's trees advanced together")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    if args.n_problems is not None:
        preset = replace(preset, n_problems=args.n_problems)
    if args.batch_problems is not None:
        preset = replace(preset, batch_problems=args.batch_problems)
    print(json.dumps(run(preset, seed=args.seed, device=args.device, threads=args.threads, name=args.preset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
