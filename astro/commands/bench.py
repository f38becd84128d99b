"""`astro bench <name> [options]`: dispatch to one speed benchmark's `main(argv) -> int`.

Each benchmark lives in its own module beside this one and is imported only when asked for,
so a benchmark whose dependencies are missing never breaks the others.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

__all__ = ["BENCHMARKS", "main"]

BENCHMARKS: dict[str, tuple[str, str]] = {
    "grpo": ("benchmarks.bench_grpo", "GRPO step throughput (rollouts, tokens per second, step time)."),
    "sft": ("benchmarks.bench_sft", "SFT throughput (tokens per second)."),
    "search": ("benchmarks.bench_search", "Search throughput (MCTS iterations and rollouts per second)."),
    "verifier": ("benchmarks.bench_verifier", "Verifier speed, accuracy and worst-case CPU against Math-Verify (the compare extra)."),
    "generation": ("benchmarks.bench_generation", "Policy generation throughput (tokens per second)."),
    "pretrain": ("benchmarks.bench_pretrain", "Pre-training cost per pair (CPU seconds) and the base's competence gates per recipe."),
    "ray": ("benchmarks.bench_ray", "Ray scaling of the search stage: in-process, 1 worker, 2 workers (the ray extra)."),
}

ALL: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("grpo", ("--vs-trl", "--repeats", "3"), "trl"),
    ("sft", ("--vs-trl",), "trl"),
    ("search", (), ""),
    ("generation", (), ""),
    ("verifier", (), "math_verify"),
    ("pretrain", ("--probe", "100", "--variants", "default,batch48", "--out", "{tmp}/pretrain"), ""),
    ("ray", (), "ray"),
)
"""What `astro bench all` runs, in order: (benchmark, its options, the optional package its comparison needs).
Every speed figure the documentation quotes comes from one of these."""

GOALS: dict[str, tuple[str, float, str]] = {
    "grpo": ("ratio_vs_trl", 2.0, "GRPO end-to-end generated tokens/s, ours / TRL's GRPOTrainer"),
    "sft": ("ratio_vs_trl", 1.5, "SFT tokens/s, ours / TRL's SFTTrainer"),
    "search": ("search/backend_utilisation", 0.8, "MCTS generated tokens/s / the backend's best batched rate"),
    "verifier": ("speedup", 10.0, "verdicts per second, ours / Math-Verify's"),
    "ray": ("speedup/ray2_vs_ray1", 1.8, "search stage, 2 Ray workers / 1"),
}
"""The headline figure of a benchmark's JSON line in `--table`, its goal, and what it measures."""


def _usage() -> str:
    width = max(map(len, BENCHMARKS))
    lines = ["usage: astro bench <name> [options]    astro bench all [--list | --table FILE]", "", "benchmarks:"]
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


class _Tee:
    """Writes through to the real stdout and keeps every JSON object line (the last is the benchmark's record)."""

    def __init__(self, stream) -> None:
        self.stream, self.records, self._buffer = stream, [], ""

    @property
    def record(self) -> dict | None:
        return self.records[-1] if self.records else None

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.startswith("{") and line.endswith("}"):
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    pass
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _conditions() -> str:
    import importlib.metadata
    import platform

    versions = []
    for name in ("torch", "transformers", "trl", "ray", "math-verify"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return (f"Python {platform.python_version()}, {', '.join(versions)}; {os.cpu_count()} CPUs; "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} (each benchmark sets its own torch threads, 1 by default).")


def write_table(path: str, rows: list[tuple[str, list[str], list[dict] | None, tuple[float, float], float]]) -> None:
    """The markdown page of one `astro bench all` run: conditions, one row per benchmark, then the JSON lines."""
    lines = ["# `astro bench all`: one run", "", _conditions(), "",
             "| benchmark | command | headline | goal | met | seconds | load average before -> after |", "|---|---|---|---|---|---|---|"]
    for name, args, records, (load0, load1), seconds in rows:
        key, goal, what = GOALS.get(name, ("", 0.0, ""))
        record = records[-1] if records else None
        value = None if record is None or not key else record.get(key)
        headline = "(failed)" if records is None else "(no JSON line)" if record is None else (f"{what}: {value:.3g}" if isinstance(value, (int, float)) else "see its JSON line")
        met = "" if not isinstance(value, (int, float)) else ("yes" if value >= goal else "no")
        lines.append(f"| {name} | `astro bench {' '.join([name, *args])}` | {headline} | {f'>= {goal:g}' if key else ''} | {met} | "
                     f"{seconds:.0f} | {load0:.2f} -> {load1:.2f} |")
    lines += ["", "The JSON lines each printed (the last is its record):", ""]
    for name, _, records, _, _ in rows:
        lines += [f"- {name}: `{json.dumps(r, sort_keys=True)}`" for r in records or []] or [f"- {name}: (none)"]
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def run_all(argv: list[str]) -> int:
    """`astro bench all [--list] [--table FILE]`: every benchmark in `ALL`; a comparison whose peer package is missing
    runs without it (said in one line); `--table` writes the run's figures, goals and conditions as a markdown page;
    exit 1 when any benchmark failed."""
    import importlib.util
    import tempfile
    import time

    table = None
    if len(argv) == 2 and argv[0] == "--table" and argv[1] and not argv[1].startswith("-"):
        table, argv = argv[1], []
    if argv not in ([], ["--list"]):
        print(f"astro bench all: unknown option(s) {' '.join(argv)}; use --list, --table FILE or nothing.", file=sys.stderr)
        return 2
    if table is not None and not os.path.isdir(os.path.dirname(os.path.abspath(table))):
        print(f"astro bench all: --table {table}: its folder does not exist.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="astro-bench-") as tmp:
        commands = all_commands(tmp)
        if argv == ["--list"]:
            for name, args, needs in commands:
                print(" ".join(["astro bench", name, *args]) + (f"    # needs {needs} for its comparison" if needs else ""))
            return 0
        failed, rows = [], []
        for name, args, needs in commands:
            if needs and importlib.util.find_spec(needs) is None:
                if name in ("verifier", "ray"):
                    print(f"astro bench all: skipping {name} ({needs} is not installed).", file=sys.stderr)
                    continue
                print(f"astro bench all: {needs} is not installed; {name} runs without its comparison.", file=sys.stderr)
                args = [a for a in args if a != "--vs-trl"]
            shown = [a.replace(tmp, "TMP") for a in args]
            print(f"\n== astro bench {name} {' '.join(shown)}", flush=True)
            tee, real = _Tee(sys.stdout), sys.stdout
            load0, start = os.getloadavg()[0], time.perf_counter()
            sys.stdout = tee
            try:
                code = main([name, *args])
            finally:
                sys.stdout = real
            if code != 0:
                failed.append(name)
            records = None if code != 0 else json.loads(json.dumps(tee.records).replace(tmp, "TMP"))
            rows.append((name, shown, records, (load0, os.getloadavg()[0]), time.perf_counter() - start))
    if table is not None:
        write_table(table, rows)
        print(f"astro bench all: wrote {table}", file=sys.stderr)
    if failed:
        print(f"astro bench all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
