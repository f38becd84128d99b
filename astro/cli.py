"""`astro`: one entry point, one subcommand per pipeline stage.

Each subcommand lives beside the code it drives and exposes `main(argv) -> int`; this
module only dispatches, importing the subcommand (and torch, if it needs it) lazily so
that `astro --help` is instant.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import traceback

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("astro.demo", "A short episode of each environment and a few verifier verdicts."),
    "problems": ("astro.commands.problems", "Make a run's training problems and evaluation sets (never overlapping)."),
    "pretrain": ("astro.commands.pretrain", "Build and pre-train the embedded base model."),
    "search": ("astro.commands.search", "Build search trees (MCTS, best-of-N, beam, a plug-in) for a problem set."),
    "tree": ("astro.commands.tree", "Inspect search trees: `astro tree show trees.jsonl --index N --out tree.html`."),
    "linearize": ("astro.commands.linearize", "Turn trees into ASTRO and Direct traces (`--stats` for the table)."),
    "export": ("astro.commands.export", "Trees and traces as a Hub-ready dataset folder (Parquet or JSONL + dataset card)."),
    "sft": ("astro.commands.sft", "Behaviour cloning (SFT) of a policy on traces."),
    "grpo": ("astro.commands.grpo", "GRPO of a policy in the environment (engines: astro, trl, plug-ins)."),
    "eval": ("astro.commands.eval", "Evaluate a policy on MATH-500 / AMC 2023 / AIME 2024 or a problem file."),
    "competence": ("astro.commands.competence", "The competence table of a run's models (tasks that define probes)."),
    "bench": ("astro.commands.bench", "Speed benchmarks: `astro bench grpo|sft|search|verifier`."),
    "run": ("astro.run", "The main job: Direct-vs-ASTRO end to end with a report."),
    "compare": ("astro.commands.compare", "One model of two run folders, paired over the same problems (an ablation's row)."),
    "replicate": ("astro.replicate", "N runs differing in every seed (data, base, trees, training), paired differences across them."),
}
"""Each stage of `astro run` is one of these commands: `astro <command> --config <stage file>` runs it."""


REPRODUCIBLE_MATH = {"MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
"""Environment set (unless already set) before torch loads: MKL, oneDNN and ATen take their
AVX2 code paths on any x86 CPU that has AVX2, so float32 results do not change with the
machine's newest instruction set, and MKL's conditional numerical reproducibility makes them
repeat run to run. Workers inherit it. Set a variable yourself to override it."""


def set_reproducible_math(environ=os.environ) -> None:
    """Apply `REPRODUCIBLE_MATH` to `environ` where a variable is not set yet (x86 only)."""
    import platform

    if platform.machine().lower() in ("x86_64", "amd64"):
        for key, value in REPRODUCIBLE_MATH.items():
            environ.setdefault(key, value)


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: astro <subcommand> [options]", "", "subcommands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in SUBCOMMANDS.items()]
    lines += ["", "`astro <subcommand> --help` describes each one's options. Bad input prints one line (exit code 2);",
              "anything else is a bug: its traceback, then a one-line summary (exit code 1)."]
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
    if "torch" not in sys.modules:
        set_reproducible_math()
    if name not in SUBCOMMANDS:
        print(f"astro: unknown subcommand {name!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    # parsers name themselves after argv[0]: make `--help` say "astro <subcommand>"
    saved, sys.argv = sys.argv, [f"astro {name}", *rest]
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
        result = module.main(rest)
    except KeyboardInterrupt:
        print(f"astro {name}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`astro run --help | head`): nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 141
    except BaseException as exc:  # noqa: BLE001 - sorted into bad input (one line) and bugs (traceback)
        if isinstance(exc, SystemExit):
            raise
        if is_bad_input(exc):
            print(f"astro {name}: error: {one_line(exc)}", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"astro {name}: internal error (a bug, not your input): {one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        sys.argv = saved
    return int(result or 0)


def is_bad_input(exc: BaseException) -> bool:
    """True for what the user can fix (a `UserError`, a full disk, a folder without write permission); False for bugs."""
    from astro_env.errors import UserError

    if isinstance(exc, UserError):
        return True
    return isinstance(exc, OSError) and (exc.errno == errno.ENOSPC or isinstance(exc, PermissionError))


def one_line(exc: BaseException) -> str:
    """The error as one line: its message, the file it names, and what kind of failure it was."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing {exc.filename or 'output'}; free space and run the same command again (it resumes)."
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}; choose a writable --out."
    from astro_env.errors import UserError

    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text if isinstance(exc, UserError) else f"{text} ({type(exc).__name__})"


if __name__ == "__main__":
    raise SystemExit(main())
