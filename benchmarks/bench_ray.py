"""Ray scaling of the search stage: the same trees searched in this process, on 1 Ray worker, on 2.

    python -m benchmarks.bench_ray                     # the tiny random-init model, 16 problems in 4 shards
    python -m benchmarks.bench_ray --workers 1,2,4 --local-num-cpus 4
    python -m benchmarks.bench_ray --preset ci --n-problems 4 --batch-problems 2   # seconds, not a measurement

The workload is `benchmarks.bench_search`'s `tiny` preset (a random-init embedded Llama on the
transformers backend, MCTS at its budget) in batches of `--batch-problems` trees, one executor shard
per batch, so the trees are the same whatever runs them (the benchmark checks it). The model is
saved once and every engine loads it from disk (the local run through `map_shards`, as a stage
does; each Ray actor in its own process), so each timing includes building the engines. The local
cluster starts once, before any timing (as `astro run` starts it once for all its stages); its
start-up is reported on its own. Modes alternate over `--repeats`; the medians are reported with
the load average before and after, since a speed-up needs free cores to show. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import replace

from astro_env.errors import OneLineParser


def run(n_problems: int = 16, batch_problems: int = 4, workers: tuple[int, ...] = (1, 2), repeats: int = 2,
        local_num_cpus: int = 2, seed: int = 0, preset_name: str = "tiny") -> dict:
    """The benchmark's record (see the module doc)."""
    import ray
    import torch

    from agents.base import PolicyConfig
    from astro_env import get_task
    from benchmarks.bench_search import PRESETS, build_tiny_policy
    from search.executor import ExecutorConfig, RemotePolicy, connect
    from search.run import SearchConfig, search_trees
    from training.embedded import save_policy

    torch.set_num_threads(1)
    preset = replace(PRESETS[preset_name], n_problems=n_problems, batch_problems=batch_problems)
    if preset.policy != "tiny":
        raise ValueError(f"preset {preset_name!r} has no model for the workers to load; use one with the tiny policy")
    problems = get_task("countdown", {"n_numbers": preset.n_numbers}).generate(n_problems, seed)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        tiny = build_tiny_policy(preset, "cpu", seed)
        model_dir = save_policy(tiny.model, tiny.tokenizer, os.path.join(tmp, "model"))
        policy = RemotePolicy(PolicyConfig(backend="transformers", model=str(model_dir), device="cpu",
                                           max_batch_size=preset.max_batch_size, step_max_tokens=preset.mcts.step_max_tokens, seed=seed))
        start = time.perf_counter()
        connect(ExecutorConfig(kind="ray", local_num_cpus=local_num_cpus))
        startup = time.perf_counter() - start
        modes = [("local", ExecutorConfig(kind="local"))] + [
            (f"ray{k}", ExecutorConfig(kind="ray", n_workers=k, local_num_cpus=local_num_cpus)) for k in workers]
        seconds: dict[str, list[float]] = {name: [] for name, _ in modes}
        reference = None
        try:
            for _ in range(repeats):
                for name, executor in modes:
                    config = SearchConfig(agent="mcts", agent_config=preset.mcts, seed=seed, batch_problems=batch_problems,
                                          executor=executor)
                    start = time.perf_counter()
                    trees = search_trees(problems, policy, config, out_path=None, progress=False)
                    seconds[name].append(time.perf_counter() - start)
                    key = [t.to_dict() for t in trees]
                    if reference is None:
                        reference = key
                    elif key != reference:
                        raise AssertionError(f"{name} searched other trees than the first mode: the executor changed the trees")
        finally:
            ray.shutdown()
    median = {name: statistics.median(values) for name, values in seconds.items()}
    record = {
        "bench": "ray", "preset": preset_name, "n_problems": n_problems, "batch_problems": batch_problems, "n_shards": -(-n_problems // batch_problems),
        "repeats": repeats, "local_num_cpus": local_num_cpus, "os_cpus": os.cpu_count(),
        "ray/startup_s": round(startup, 2),
        **{f"{name}/seconds": round(value, 2) for name, value in median.items()},
        **{f"{name}/seconds_all": [round(v, 2) for v in values] for name, values in seconds.items()},
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "versions": {"ray": ray.__version__, "torch": torch.__version__},
    }
    if "ray1" in median:
        for k in workers:
            if k != 1:
                record[f"speedup/ray{k}_vs_ray1"] = round(median["ray1"] / median[f"ray{k}"], 3)
    for k in workers:
        record[f"speedup/ray{k}_vs_local"] = round(median["local"] / median[f"ray{k}"], 3)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="astro bench ray", description="Ray scaling of the search stage (1 vs 2 workers, and in-process).")
    parser.add_argument("--n-problems", type=int, default=16, help="Countdown problems searched (default: 16)")
    parser.add_argument("--batch-problems", type=int, default=4, help="trees per batch, one shard each (default: 4)")
    parser.add_argument("--workers", default="1,2", help="comma-separated Ray pool sizes (default: 1,2)")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of the modes (default: 2)")
    parser.add_argument("--local-num-cpus", type=int, default=2, help="CPUs of the local Ray cluster (default: 2)")
    parser.add_argument("--preset", choices=["tiny", "ci"], default="tiny", help="bench_search's budget and model (default: tiny)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        workers = tuple(int(w) for w in args.workers.split(",") if w.strip())
    except ValueError:
        parser.error(f"--workers {args.workers!r}: comma-separated integers, e.g. 1,2")
    if not workers or min(workers) < 1 or args.n_problems < 1 or args.batch_problems < 1 or args.repeats < 1:
        parser.error("--workers, --n-problems, --batch-problems and --repeats must be >= 1")
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        parser.error("ray is not installed (pip install -e '.[ray]')")
    print(json.dumps(run(args.n_problems, args.batch_problems, workers, args.repeats, args.local_num_cpus, args.seed, args.preset)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
