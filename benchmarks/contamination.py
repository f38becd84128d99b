"""Is an evaluation set unseen? Its problems counted in every corpus a run trained on.

A run trains on four corpora: the embedded base's pre-training corpus, the problems the search
built trees on, the traces SFT learned from, and the GRPO prompt pool. `contamination` counts,
for each evaluation set, how many of its problems share a `prompt_key` (the normalised
statement) with each corpus; a sound run has 0 everywhere. `run_contamination` reads those
corpora from a run folder:

- pre-training: `base/corpus.json`, where pre-training recorded, for every evaluation file it
  excluded, how many of its prompts its corpus holds (it counts them over the whole corpus it
  trained on; a base brought with --model has no such record: "n/a");
- trees: the problem of every tree in `trees/trees.jsonl`;
- traces: the problems of the trees whose ids the traces of each arm carry;
- RL pool: `problems/rl.jsonl` where the run has one (--task.n-rl), else `problems/train.jsonl`: the
  pool GRPO's difficulty filter draws from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from astro_env.problem import Problem, prompt_key

__all__ = ["CORPORA", "contamination", "format_contamination", "run_contamination"]

CORPORA = ("pre-training", "trees", "traces", "RL pool")
"""The corpora a run trains on, in the order of the pipeline."""


def contamination(eval_sets: Mapping[str, Sequence[Problem]], corpora: Mapping[str, Iterable[Problem]]) -> dict[str, dict[str, int]]:
    """{corpus: {eval set: how many of its problems have a prompt_key in the corpus}} (pure)."""
    keys = {name: frozenset(prompt_key(p) for p in problems) for name, problems in corpora.items()}
    return {name: {label: sum(prompt_key(p) in corpus for p in problems) for label, problems in eval_sets.items()}
            for name, corpus in keys.items()}


def run_contamination(run_dir: Path, benches: Sequence[str]) -> dict[str, Any]:
    """`{"n_problems": {set: n}, "overlap": {corpus: {set: count or None}}}` for the run folder `run_dir`
    (None: the corpus is not in the folder, e.g. no pre-training with --model, or a stage not run)."""
    from astro_env.jsonl import read_jsonl
    from astro_env.loaders import read_problems

    run_dir = Path(run_dir)
    eval_sets = {label: read_problems(run_dir / "problems" / "eval" / f"{label}.jsonl") for label in benches
                 if (run_dir / "problems" / "eval" / f"{label}.jsonl").exists()}
    corpora: dict[str, list[Problem]] = {}
    trees_file = run_dir / "trees" / "trees.jsonl"
    if trees_file.exists():
        tree_problems = {}
        for record in read_jsonl(trees_file):
            problem = Problem.from_dict(record["problem"])
            tree_problems[problem.id] = problem
        corpora["trees"] = list(tree_problems.values())
        trace_files = sorted((run_dir / "traces").glob("traces_*.jsonl"))
        if trace_files:
            ids = {record["problem_id"] for path in trace_files for record in read_jsonl(path)}
            missing = ids - tree_problems.keys()
            if missing:
                raise ValueError(f"{run_dir / 'traces'}: traces of problems no tree holds ({sorted(missing)[:3]} ...)")
            corpora["traces"] = [tree_problems[i] for i in sorted(ids)]
    rl_file = run_dir / "problems" / "rl.jsonl"  # the problems stage writes it with --task.n-rl, GRPO's own pool
    rl_file = rl_file if rl_file.exists() else run_dir / "problems" / "train.jsonl"
    if rl_file.exists():
        corpora["RL pool"] = read_problems(rl_file)
    counts: dict[str, dict[str, int | None]] = {name: dict(row) for name, row in contamination(eval_sets, corpora).items()}
    counts["pre-training"] = _pretraining(run_dir, eval_sets)
    return {"n_problems": {label: len(problems) for label, problems in eval_sets.items()},
            "overlap": {name: counts.get(name, {label: None for label in eval_sets}) for name in CORPORA}}


def _pretraining(run_dir: Path, eval_sets: Mapping[str, Sequence[Problem]]) -> dict[str, int | None]:
    """Per evaluation set, the prompts pre-training's corpus held (from its corpus.json), None where it kept no record."""
    path = run_dir / "base" / "corpus.json"
    recorded: dict[str, int] = {}
    if path.exists():
        for entry in json.loads(path.read_text()).get("exclude", []):
            recorded[Path(entry["file"]).stem] = int(entry["n_in_corpus"])
    return {label: recorded.get(label) for label in eval_sets}


def format_contamination(audit: Mapping[str, Any]) -> str:
    """A Markdown table: one row per corpus, one column per evaluation set ("0 / 200")."""
    sizes = audit["n_problems"]
    lines = ["| corpus | " + " | ".join(f"`{label}`" for label in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for name, row in audit["overlap"].items():
        cells = ["n/a" if row.get(label) is None else f"{row[label]} / {n}" for label, n in sizes.items()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
