"""`astro eval`: sample N completions per problem of each benchmark and score them with the
problem's task (the same reward as RL); resumable, with a Markdown and JSON report.

    astro eval --policy MODEL_DIR|oracle --eval.benches math500 amc23 aime24 --eval.samples 16 --out DIR
    astro eval --config runs/x/stages/seed0/eval-astro-rl.json

Writes `OUT/<set>/completions.jsonl` per evaluation set, `OUT/summary.json` (the merged
`EvalReport`), `OUT/report.json` and `OUT/report.md`; prints the Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

from agents.base import PolicyConfig
from astro_env.errors import UserError
from benchmarks.evaluate import EvalConfig

__all__ = ["EvalJob", "evaluate_job", "main"]


@dataclass(frozen=True)
class EvalJob:
    """An evaluation stage: which policy, on which sets, how it samples, where the records go."""

    out: str = ""
    """Output folder: <set>/completions.jsonl per set, summary.json, report.json, report.md."""
    policy: PolicyConfig = PolicyConfig()
    """The evaluated policy (`--policy oracle`: answers with the reference solutions)."""
    eval: EvalConfig = EvalConfig()
    """Sampling and scoring, and the sets (`--eval.benches`: names, .jsonl files, generated-set specs)."""
    data_dir: str = ""
    """Benchmark folder (empty: $ASTRO_DATA_DIR, else ../shared/data)."""
    model_name: str = ""
    """Name recorded in the report (empty: the policy's)."""
    token_count: Literal["tokenizer", "words"] = "tokenizer"
    """How completion lengths are counted: the policy's tokenizer when it has one, or words (`astro run`
    counts words, the same under every executor)."""
    progress: bool = field(default=True, compare=False)
    """Show a progress bar."""


def bench_label(spec: str) -> str:
    """"math500" for a benchmark name, the file stem for a .jsonl path, "countdown-20-0" for "countdown:20:0"."""
    return Path(spec).stem if spec.endswith(".jsonl") else spec.replace(":", "-")


def _data_file(spec: str, data_dir: str | None, benchmark_path: Callable[..., Path]) -> Path | None:
    """The local file a problem set was read from, None for generated or hub-loaded sets."""
    if spec.endswith(".jsonl") or Path(spec).is_file():
        return Path(spec)
    try:
        return benchmark_path(spec, data_dir)
    except (FileNotFoundError, ValueError):
        return None


def evaluate_job(job: EvalJob):
    """The merged `EvalReport` of `job` over its sets, written under `job.out` (see the module docstring)."""
    from astro_env.jsonl import write_json
    from astro_env.loaders import benchmark_path, load_problems
    from benchmarks.evaluate import _word_count, evaluate
    from benchmarks.records import EvalReport
    from benchmarks.report import write_report
    from search.executor import configure_logging, policy_for

    if not job.out:
        raise UserError("--out is empty: give the folder the evaluation goes to.")
    config, data_dir = job.eval, job.data_dir or None
    sets = []
    for spec in config.benches:
        try:
            problems = load_problems(spec, data_dir=data_dir, limit=config.limit)
        except (FileNotFoundError, ValueError) as exc:
            raise UserError(f"cannot load {spec!r}: {exc}") from None
        sets.append((bench_label(spec), problems, _data_file(spec, data_dir, benchmark_path)))
    if job.policy.model == "oracle":
        from agents.oracle import OraclePolicy

        policy = OraclePolicy([p for _, problems, _ in sets for p in problems])
    else:
        policy = policy_for(job.policy, config.executor)  # a missing model directory, an unreachable hub: one line
    count_tokens = _word_count
    tokenizer = getattr(policy, "tokenizer", None)
    if job.token_count == "tokenizer" and tokenizer is not None:
        count_tokens = lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    if config.executor.kind == "ray":
        configure_logging()
    out = Path(job.out)
    reports = [
        evaluate(policy, problems, config, out / label, bench_name=label, model_name=job.model_name or None, data_path=path,
                 count_tokens=count_tokens, progress=job.progress)
        for label, problems, path in sets
    ]
    report = EvalReport.merge(reports)
    write_json(out / "summary.json", report.to_dict())
    write_report(report, out)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """`astro eval`: evaluate, write the records and reports under --out, print the Markdown."""
    from astro.stage_command import run_stage_command
    from benchmarks.report import render_markdown

    def body(job: EvalJob) -> None:
        print(render_markdown(evaluate_job(job)))

    return run_stage_command(EvalJob, argv, body, command="eval", description=__doc__.split("\n")[0],
                             default=EvalJob(), aliases=ALIASES)


ALIASES = {"--chat-template": "--policy.chat.template", "--system-prompt": "--policy.chat.system-prompt",
           
    "--policy": "--policy.model", "--backend": "--policy.backend", "--device": "--policy.device",
    "--bench": "--eval.benches", "--samples": "--eval.samples", "--temperature": "--eval.temperature",
    "--top-p": "--eval.top-p", "--max-tokens": "--eval.max-tokens", "--seed": "--eval.seed", "--limit": "--eval.limit",
    "--executor": "--eval.executor.kind",
}
"""Short flags of `astro eval` (plain renamings)."""
