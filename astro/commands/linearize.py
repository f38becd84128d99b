"""`astro linearize`: search trees to ASTRO and Direct traces (TRL prompt-completion JSONL).

    astro linearize trees.jsonl --arms astro direct --out traces/ --stats
    astro linearize trees.jsonl --arms direct --out traces/ --tokenizer path/to/policy --linearize.k-values 1 2
    astro linearize --config runs/x/stages/traces.json

Writes `OUT/traces_<arm>.jsonl` per arm, one `Trace` per line (prompt, completion, arm,
problem_id, n_backtracks, n_restarts, n_tokens, ...), `OUT/stats.json` (the statistics per arm)
and `OUT/linearize_config.json` (the settings that made them); `--stats` prints the table of
problems, trajectories, backtracks and restarts per source. With `--self-eval` only the
correct solutions the judge approves are used (`self_eval.json` counts them).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence

import tyro

from agents.base import PolicyConfig
from astro_env.errors import UserError
from astro_env.jsonl import JsonlWriter, check_manifest, remove_manifest, write_json, write_manifest
from search.curation import SelfEvalConfig
from search.linearize import LinearizeConfig, build_traces, format_stats, trace_stats
from search.tree import SearchTree, read_trees

__all__ = ["LinearizeJob", "linearize_trees", "main"]

Arm = Literal["astro", "direct"]


@dataclass(frozen=True)
class LinearizeJob:
    """The `traces` stage: trees in, traces of each arm out, with the same linearisation for every arm."""

    trees: Annotated[tuple[str, ...], tyro.conf.Positional] = ()
    """Tree JSONL file(s) written by `astro search`."""
    out: str = ""
    """Output folder: traces_<arm>.jsonl, stats.json, linearize_config.json (existing traces are replaced)."""
    arms: tuple[Arm, ...] = ("astro",)
    """Which traces to make: astro (search solutions with backtracks) and/or direct (the correct paths only)."""
    seed: int = 0
    """Sampling seed of the linearisation (and of the judge's votes)."""
    tokenizer: str = ""
    """Tokenizer directory for n_tokens (empty: characters)."""
    linearize: LinearizeConfig = LinearizeConfig()
    """How trees become node sequences and traces."""
    self_eval: bool = False
    """Keep only correct solutions the judge approves (paper: unanimous, 8 votes)."""
    judge: PolicyConfig = PolicyConfig()
    """The judge's policy (with --self-eval)."""
    curation: SelfEvalConfig = SelfEvalConfig()
    """How the judge votes (with --self-eval)."""
    stats: bool = field(default=False, compare=False)
    """Print the statistics table (per source) of each arm."""
    require_traces: bool = False
    """Fail when an arm yields no trace, or the judge approves no solution (what a run needs to go on)."""
    allow_empty: bool = field(default=False, compare=False)
    """Accept a tree file without any tree (and write empty trace files) instead of refusing it (a check of the
    input, not a setting of the traces: left out of the stage's key)."""


def _load_trees(paths: Sequence[str], allow_empty: bool = False) -> list[SearchTree]:
    """The trees of every file, each checked against its manifest and read strictly (`search.tree.read_trees`)."""
    trees = []
    for path in paths:
        check_manifest(path, "tree file", "run the same `astro search` again to complete it.")
        trees.extend(read_trees(path, "tree file", allow_empty=allow_empty))
    return trees


def _write_traces(path: Path, traces: Sequence) -> None:
    """Replace `path` by `traces`: written to a temporary file, its manifest recorded, then renamed into place,
    so a write cut short (a full disk) leaves no traces file a reader could take for complete."""
    remove_manifest(path)
    if path.exists():
        path.unlink()
    tmp = path.with_name(path.name + ".tmp")
    try:
        with JsonlWriter(tmp) as writer:
            for trace in traces:
                writer.write(trace.to_dict())
        os.replace(tmp, path)
        write_manifest(path)
    except BaseException:
        for leftover in (tmp, path):
            if leftover.exists():
                leftover.unlink()
        remove_manifest(path)
        raise


def _load_tokenizer(path: str) -> Any:
    if not path:
        return None
    from transformers import AutoTokenizer

    from astro_env.hub import check_model_source

    check_model_source(path, "--tokenizer", markers=("tokenizer_config.json", "tokenizer.json", "config.json"))
    return AutoTokenizer.from_pretrained(path)


def linearize_trees(job: LinearizeJob) -> dict[str, list]:
    """{arm: traces} of `job`, written under `job.out` (see the module docstring)."""
    if not job.trees:
        raise UserError("give the tree file(s) to linearize, e.g. `astro linearize trees.jsonl --out traces/`.")
    if not job.out:
        raise UserError("--out is empty: give the folder the traces go to.")
    if not job.arms:
        raise UserError("--arms is empty: give astro and/or direct.")
    job.linearize.phrase_bank()  # a bad phrase bank fails before anything is written
    trees = _load_trees(job.trees, job.allow_empty)
    tokenizer = _load_tokenizer(job.tokenizer)
    out = Path(job.out)
    good = None
    if job.self_eval:
        from search.curation import self_evaluate
        from search.executor import policy_for

        judge = policy_for(job.judge, job.curation.executor)
        good = self_evaluate(trees, judge, job.curation)
        n_correct = sum(len(t.correct_terminals()) for t in trees)
        n_kept = sum(len(ids) for ids in good.values())
        write_json(out / "self_eval.json", {"n_correct_terminals": n_correct, "n_approved": n_kept})
        if n_kept == 0 and job.require_traces:
            raise UserError(
                f"--self-eval kept no solution: the judge ({job.judge.model}) approved 0 of {n_correct} correct terminals "
                f"({job.curation.required_yes} of {job.curation.n_votes} votes needed); use a stronger judge or drop --self-eval."
            )
    result: dict[str, list] = {}
    stats: dict[str, Any] = {}
    for arm in job.arms:
        traces = build_traces(trees, job.linearize, arm=arm, seed=job.seed, tokenizer=tokenizer, good=good)
        if not traces and job.require_traces:
            raise UserError(
                f"no {arm} traces from {len(trees)} trees ({sum(bool(t.correct_terminals()) for t in trees)} with a correct leaf): "
                "raise the search budget or use a stronger search policy."
            )
        _write_traces(out / f"traces_{arm}.jsonl", traces)
        result[arm] = traces
        stats[arm] = trace_stats(traces)
    write_json(out / "stats.json", stats)
    write_json(out / "linearize_config.json", asdict(job))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    from astro.stage_command import run_stage_command

    def body(job: LinearizeJob) -> None:
        result = linearize_trees(job)
        for arm, traces in result.items():
            print(f"wrote {len(traces)} {arm} traces to {Path(job.out) / f'traces_{arm}.jsonl'}", file=sys.stderr)
            if job.stats:
                print(format_stats(trace_stats(traces)))

    return run_stage_command(LinearizeJob, argv, body, command="linearize", description=__doc__.split("\n")[0],
                             default=LinearizeJob(), aliases={"--arm": "--arms"})
