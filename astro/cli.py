"""`astro`: one entry point, one subcommand per pipeline stage.

Each subcommand lives beside the code it drives and exposes `main(argv) -> int`; this
module only dispatches, importing the subcommand (and torch, if it needs it) lazily so
that `astro --help` is instant.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("astro_env.demo", "A short episode of each environment and a few verifier verdicts."),
    "search": ("search.cli", "Build search trees (MCTS, best-of-N, beam) for a problem set."),
    "tree": ("search.viewer", "Inspect search trees: `astro tree show trees.jsonl --index N --out tree.html`."),
    "linearize": ("search.linearize_cli", "Turn trees into ASTRO or Direct traces (`--stats` for the table)."),
    "pretrain": ("training.embedded", "Build and pre-train the embedded base model on the synthetic task."),
    "sft": ("training.sft", "Behaviour cloning (SFT) of a policy on traces."),
    "grpo": ("training.grpo", "GRPO of a policy in the environment."),
    "eval": ("benchmarks.evaluate", "Evaluate a policy on MATH-500 / AMC 2023 / AIME 2024 or a problem file."),
    "bench": ("benchmarks.speed", "Speed benchmarks: `astro bench grpo|sft|search|verifier`."),
    "run": ("astro.run", "The main job: Direct-vs-ASTRO end to end with a report."),
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: astro <subcommand> [options]", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    lines += ["", "`astro <subcommand> --help` describes each one's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from astro import __version__

        print(f"astro-gym {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"astro: unknown subcommand {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    # parsers name themselves after argv[0]: make `--help` say "astro <subcommand>"
    saved, sys.argv = sys.argv, [f"astro {name}", *rest]
    try:
        result = module.main(rest)
    finally:
        sys.argv = saved
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
