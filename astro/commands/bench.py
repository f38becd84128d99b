"""`astro bench <name> [options]`: dispatch to one speed benchmark's `main(argv) -> int`.

Each benchmark lives in its own module beside this one and is imported only when asked for,
so a benchmark whose dependencies are missing never breaks the others.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["BENCHMARKS", "main"]

BENCHMARKS: dict[str, tuple[str, str]] = {
    "grpo": ("benchmarks.bench_grpo", "GRPO step throughput (rollouts, tokens per second, step time)."),
    "sft": ("benchmarks.bench_sft", "SFT throughput (tokens per second)."),
    "search": ("benchmarks.bench_search", "Search throughput (MCTS iterations and rollouts per second)."),
    "verifier": ("benchmarks.bench_verifier", "Verifier speed, accuracy and worst-case CPU against Math-Verify (the compare extra)."),
    "generation": ("benchmarks.bench_generation", "Policy generation throughput (tokens per second)."),
}


def _usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = ["usage: astro bench <name> [options]", "", "benchmarks:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in BENCHMARKS.items()]
    lines += ["", "`astro bench <name> --help` describes each one's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run `astro bench <name> ...`; 2 on an unknown or unavailable benchmark, else its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"astro bench: unknown benchmark {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = BENCHMARKS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the benchmark exists but one of its imports is missing: show the real error
        print(f"astro bench: benchmark {name!r} is not available in this install ({module_name} is missing).", file=sys.stderr)
        return 2
    main_fn = getattr(module, "main", None)
    if main_fn is None:
        print(f"astro bench: {module_name} has no main(argv) function.", file=sys.stderr)
        return 2
    return int(main_fn(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
