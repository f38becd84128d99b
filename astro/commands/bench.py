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
    "pretrain": ("benchmarks.bench_pretrain", "Pre-training cost per pair (CPU seconds) and the base's competence gates per recipe."),
}

ALL: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("grpo", ("--vs-trl", "--repeats", "3"), "trl"),
    ("sft", ("--vs-trl",), "trl"),
    ("search", (), ""),
    ("generation", (), ""),
    ("verifier", (), "math_verify"),
    ("pretrain", ("--probe", "100", "--variants", "default,batch48", "--out", "{tmp}/pretrain"), ""),
)
"""What `astro bench all` runs, in order: (benchmark, its options, the optional package its comparison needs).
Every speed figure the documentation quotes comes from one of these."""


def _usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = ["usage: astro bench <name> [options]    astro bench all [--list]", "", "benchmarks:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in BENCHMARKS.items()]
    lines += [f"  {'all':<{width}}  Every benchmark above with the options the documentation's figures use, one after another."]
    lines += ["", "`astro bench <name> --help` describes each one's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run `astro bench <name> ...`; 2 on an unknown or unavailable benchmark, else its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name == "all":
        return run_all(rest)
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


def all_commands(tmp: str) -> list[tuple[str, list[str], str]]:
    """(benchmark, argv, the optional package it needs for its comparison) of `astro bench all`."""
    return [(name, [a.format(tmp=tmp) for a in args], needs) for name, args, needs in ALL]


def run_all(argv: list[str]) -> int:
    """`astro bench all [--list]`: every benchmark in `ALL`; a comparison whose peer package is missing runs without it
    (said in one line); exit 1 when any benchmark failed."""
    import importlib.util
    import tempfile

    if argv not in ([], ["--list"]):
        print(f"astro bench all: unknown option(s) {' '.join(argv)}; use --list or nothing.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="astro-bench-") as tmp:
        commands = all_commands(tmp)
        if argv == ["--list"]:
            for name, args, needs in commands:
                print(" ".join(["astro bench", name, *args]) + (f"    # needs {needs} for its comparison" if needs else ""))
            return 0
        failed = []
        for name, args, needs in commands:
            if needs and importlib.util.find_spec(needs) is None:
                if name == "verifier":
                    print(f"astro bench all: skipping verifier ({needs} is not installed: pip install -e '.[compare]').", file=sys.stderr)
                    continue
                print(f"astro bench all: {needs} is not installed; {name} runs without its comparison.", file=sys.stderr)
                args = [a for a in args if a != "--vs-trl"]
            print(f"\n== astro bench {name} {' '.join(args)}", flush=True)
            if main([name, *args]) != 0:
                failed.append(name)
    if failed:
        print(f"astro bench all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
