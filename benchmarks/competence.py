"""Competence of a task's policies: can the model take the task's steps, and can it check its work?

ASTRO's premise is a model that recognises a failed attempt. Before Direct and ASTRO are
compared, this table shows whether the models are competent at the parts the comparison
rests on. What is audited comes from the task (`astro_env.task.CompetenceProbes`; Countdown:
legal steps, arithmetic, target copies, see `astro_env.countdown.CountdownProbes`); this module
decodes, scores and adds what every task shares:

- the task's audit columns over one greedy completion per held-out problem (first attempts);
- `solve_rate`: the task's reward of the same completions;
- `verification_auc`: given the correct steps of a solution up to its final step, then a final
  step that reaches the goal or one that misses it (the task's `verification_pairs`), the model
  continues (greedily); it *accepts* when it boxes an answer before any doubt, backtrack or
  restart phrase. Between the forced steps the model's own confirm reflections are kept
  (`with_own_reflections`), so each model is probed on text in its own style. AUC =
  P(accept | reached) vs P(accept | missed) = 0.5 + (p_hit - p_miss) / 2 for these 0/1
  decisions; 0.5 is no verification, 1.0 is perfect.

Reference rows, when the task has random legal play (`reference_completion`): `random legal play`
(one uniformly random legal attempt; always accepts) and `oracle-verified play` (random legal
attempts with a perfect check: up to `1 + max_retries` attempts, accepting the first that
solves), an upper bound for what search with exact verification gains over one random attempt.

Decoding runs through the project's batched decoder (`training.embedded.greedy_decoder`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from astro_env.problem import Problem
from astro_env.task import CompetenceProbes, Task, competence_probes
from search.verbalize import PhraseBank
from training.embedded import greedy_decoder

Decoder = Callable[[Sequence[str], int], list[str]]
"""`decode(prompts, max_new_tokens) -> texts`: one greedy completion per prompt."""

RANDOM_ROW = "random legal play"
ORACLE_ROW = "oracle-verified play"
SHARED_KEYS = ("solve_rate", "verification_auc")
"""Columns every task's table ends with."""
GATES: tuple[tuple[str, str, float], ...] = (("ASTRO-SFT", "verification_auc", 0.9),)
"""(model label, column, least value) for every task: an ASTRO-SFT model must tell a reached goal from
a missed one before its reflections can help; a task's `CompetenceProbes.gates` add its own."""


@dataclass(frozen=True)
class CompetenceConfig:
    """How competence is measured (held-out problems, greedy decoding)."""

    n_problems: int = 200
    """Held-out problems decoded once each (greedy) for the step rates."""
    n_verify: int = 100
    """Problems giving one reached and one missed final step each for the AUC."""
    max_new_tokens: int = 96
    """Token budget of each completion (a 3-number Countdown attempt with its comparison is ~30 tokens)."""
    max_retries: int = 3
    """Extra attempts the oracle-verified row may make after a miss."""
    seed: int = 0
    """Seeds the reference rows and the choice of missed final steps."""

    def __post_init__(self) -> None:
        if self.n_problems < 1 or self.n_verify < 0:
            raise ValueError(f"n_problems={self.n_problems}, n_verify={self.n_verify}: use n_problems >= 1, n_verify >= 0.")
        if self.max_new_tokens < 8:
            raise ValueError(f"max_new_tokens={self.max_new_tokens}: use >= 8 (one step is several tokens).")
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries}: use >= 0.")


def competence_columns(probes: CompetenceProbes) -> tuple[str, ...]:
    """The table's columns: the task's audit columns, then `SHARED_KEYS`."""
    return tuple(probes.columns) + SHARED_KEYS


def _reject_markers(banks: Sequence[PhraseBank]) -> list[str]:
    """Texts that open a rejection in any style: doubt, backtrack prefix, restart."""
    out = set()
    for bank in banks:
        for text in (bank.doubt, bank.restart, bank.backtrack.split("{target}")[0]):
            if text.strip():
                out.add(text.strip())
    return sorted(out)


def accepts(continuation: str, banks: Sequence[PhraseBank] | None = None) -> bool:
    """Whether a continuation boxes an answer before any rejection phrase (pure; never raises).

    >>> accepts("That gives 6; the target is 6, so we have it.\\n\\n\\\\boxed{2*3}")
    True
    """
    if not isinstance(continuation, str):
        return False
    boxed = continuation.find("\\boxed{")
    if boxed < 0:
        return False
    rejects = [continuation.find(m) for m in _reject_markers(banks if banks is not None else PhraseBank.load_all())]
    first_reject = min((k for k in rejects if k >= 0), default=len(continuation))
    return boxed < first_reject


def keep_reflection(chunk: str, banks: Sequence[PhraseBank] | None = None) -> bool:
    """Whether a chunk a model wrote after a forced intermediate step is kept in its verification
    prefix: only a confirm phrase of some style (pure).

    >>> keep_reflection(PhraseBank.load().confirm), keep_reflection("7*3=21; left: 21")
    (True, False)
    """
    confirms = {bank.confirm.strip() for bank in (banks if banks is not None else PhraseBank.load_all())}
    return isinstance(chunk, str) and bool(chunk.strip()) and chunk.strip() in confirms


def with_own_reflections(decode: Decoder, task: Task, pairs: Sequence[tuple[Problem, str, bool]], max_new_tokens: int,
                         delimiter: str = "\n\n") -> list[str]:
    """The prefixes of `pairs` with the model's own reflections between the forced steps.

    After each forced step but the final one the model writes its next chunk (greedy); a
    confirm phrase ("... seems to be correct so far.") is kept before the next forced step,
    anything else is dropped. A model trained on traces that confirm intermediate steps so sees
    the prefix in its own style, and one trained without sees the plain steps; either way the
    decision measured after the final step is the model's, on its own kind of text.
    """
    banks = PhraseBank.load_all()
    heads = [task.format_prompt(problem) for problem, _, _ in pairs]
    steps = [prefix[len(head):].split(delimiter)[:-1] for head, (_, prefix, _) in zip(heads, pairs)]
    texts = list(heads)
    for pos in range(max((len(s) for s in steps), default=0)):
        for k, row in enumerate(steps):
            if pos < len(row):
                texts[k] += row[pos] + delimiter
        todo = [k for k, row in enumerate(steps) if pos < len(row) - 1]
        if not todo:
            continue
        chunks = decode([texts[k] for k in todo], max_new_tokens)
        for k, chunk in zip(todo, chunks):
            first = chunk.split(delimiter)[0]
            if keep_reflection(first, banks):
                texts[k] += first.strip() + delimiter
    return texts


def auc_from_decisions(decisions: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    """`{"verification_auc", "p_accept_reached", "p_accept_missed"}` from (reaches_goal, accepted) pairs.

    >>> auc_from_decisions([(True, True), (False, False), (True, True), (False, True)])["verification_auc"]
    0.75
    """
    hits = [a for r, a in decisions if r]
    misses = [a for r, a in decisions if not r]
    p_hit = sum(hits) / len(hits) if hits else 0.0
    p_miss = sum(misses) / len(misses) if misses else 0.0
    return {"verification_auc": 0.5 + (p_hit - p_miss) / 2, "p_accept_reached": p_hit, "p_accept_missed": p_miss}


def _rates(task: Task, probes: CompetenceProbes, problems: Sequence[Problem], texts: Sequence[str]) -> dict[str, float]:
    """The task's audit of `texts` and their solve rate."""
    row = dict(probes.audit(problems, texts))
    row["solve_rate"] = sum(task.reward(p, t) == 1.0 for p, t in zip(problems, texts)) / max(1, len(problems))
    return row


def model_competence(decode: Decoder, task: Task, probes: CompetenceProbes, problems: Sequence[Problem],
                     config: CompetenceConfig) -> dict[str, float]:
    """The competence row of one model, given its greedy decoder (see the module doc)."""
    held_out = list(problems[: config.n_problems])
    texts = decode([task.format_prompt(p) for p in held_out], config.max_new_tokens)
    row = _rates(task, probes, held_out, texts)
    pairs = probes.verification_pairs(problems[: config.n_verify], random.Random(config.seed))
    if pairs:
        prefixes = with_own_reflections(decode, task, pairs, config.max_new_tokens)
        continuations = decode(prefixes, config.max_new_tokens)
        row.update(auc_from_decisions([(r, accepts(c)) for (_, _, r), c in zip(pairs, continuations)]))
    return row


def reference_rows(task: Task, probes: CompetenceProbes, problems: Sequence[Problem], config: CompetenceConfig) -> dict[str, dict[str, float]]:
    """The random-legal-play and oracle-verified-play rows on the same held-out problems ({} when the task has no random play)."""
    rng = random.Random(config.seed)
    held_out = list(problems[: config.n_problems])
    texts, n_oracle = [], 0
    for problem in held_out:
        first = probes.reference_completion(problem, rng)
        if first is None:
            return {}
        texts.append(first)
        tries = [first] + [probes.reference_completion(problem, rng) for _ in range(config.max_retries)]
        n_oracle += any(task.reward(problem, t) == 1.0 for t in tries if t is not None)
    random_row = _rates(task, probes, held_out, texts)
    random_row.update({"verification_auc": 0.5, "p_accept_reached": 1.0, "p_accept_missed": 1.0})
    oracle_row = dict(random_row, solve_rate=n_oracle / max(1, len(held_out)), verification_auc=1.0, p_accept_missed=0.0)
    return {RANDOM_ROW: random_row, f"{ORACLE_ROW} ({1 + config.max_retries} attempts)": oracle_row}


def _decoder(source: str | Path | tuple[Any, Any] | Callable) -> Decoder:
    """A greedy decoder for a save_pretrained directory, a (model, tokenizer) pair, or a decoder itself."""
    if callable(source):
        return source  # type: ignore[return-value]
    if isinstance(source, tuple):
        model, tokenizer = source
    else:
        import torch

        from agents.hf import load_causal_lm

        model, tokenizer = load_causal_lm(str(source), torch.float32, torch.device("cpu"), flag="competence model")
        model.eval()
    return greedy_decoder(model, tokenizer)


def competence_report(
    task: Task,
    models: Mapping[str, str | Path | tuple[Any, Any] | Decoder],
    problems: Sequence[Problem],
    config: CompetenceConfig = CompetenceConfig(),
) -> dict[str, Any] | None:
    """The competence of each model on held-out `problems` of `task`, None when the task defines no probes.

    `models`: label -> a save_pretrained directory, a (model, tokenizer) pair, or a `Decoder`.
    Returns `{"task", "columns", "table", "gates"}`: `table` maps each label, then the reference
    rows, to a row holding `columns` plus the acceptance rates; `gates` holds one verdict per
    gate (the task's, then `GATES`) whose model is in the table (`gate_verdicts`). What `astro run`
    writes to competence.json.
    """
    probes = competence_probes(task)
    if probes is None:
        return None
    table: dict[str, dict[str, float]] = {}
    for label, source in models.items():
        table[label] = model_competence(_decoder(source), task, probes, problems, config)
    table.update(reference_rows(task, probes, problems, config))
    gates = tuple(probes.gates) + tuple(GATES)  # the task's (the base model's) first, as the report lists them
    return {"task": task.name, "columns": list(competence_columns(probes)), "table": table, "gates": gate_verdicts(table, gates)}


def gate_verdicts(table: Mapping[str, Mapping[str, float]], gates: Sequence[tuple[str, str, float]] = GATES) -> list[dict[str, Any]]:
    """One record per gate whose model is in `table`: label, key, least value, measured value, passed (pure).

    >>> gate_verdicts({"Base": {"legal_step_rate": 0.97, "arithmetic_accuracy": 0.9}},
    ...               (("Base", "legal_step_rate", 0.95), ("Base", "arithmetic_accuracy", 0.95)))[1]["passed"]
    False
    """
    out = []
    for label, key, least in gates:
        if label in table and key in table[label]:
            value = float(table[label][key])
            out.append({"model": label, "key": key, "least": least, "value": value, "passed": value >= least})
    return out


def format_gates(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown line: each gate with its measured value and PASS/FAIL."""
    parts = [f"{v['model']} {v['key'].replace('_', ' ')} {v['value']:.3f} (>= {v['least']:g}: {'pass' if v['passed'] else 'FAIL'})"
             for v in verdicts]
    return "Gates: " + "; ".join(parts) + "." if parts else "Gates: none of the gated models was measured."


def format_competence_table(table: Mapping[str, Mapping[str, float]], columns: Sequence[str]) -> str:
    """The table as Markdown, one row per model, the given columns."""
    lines = ["| model | " + " | ".join(k.replace("_", " ") for k in columns) + " |"]
    lines.append("|---" * (len(columns) + 1) + "|")
    for label, row in table.items():
        cells = [f"{row[k]:.3f}" if k in row else "n/a" for k in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_competence_report(report: Mapping[str, Any]) -> str:
    """`competence_report`'s result as a Markdown table followed by the gates line."""
    return format_competence_table(report["table"], report["columns"]) + "\n\n" + format_gates(report["gates"])


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.competence LABEL=DIR ... --problems FILE | --task NAME [--task-config JSON]`: print the report.

    The held-out problems are a problem file or spec (`--problems`, e.g. a run's test split), or
    `--n-problems` problems the task generates from stream `--problem-seed` with its config
    (the default run's Countdown space: `--task countdown --task-config '{"max_number": 9, "max_target": 50}'`).
    """
    import json

    import astro_env
    from astro_env.errors import OneLineParser, UserError
    from astro_env.loaders import load_problems

    parser = OneLineParser(description="Competence report of a task's policies.")
    parser.add_argument("models", nargs="+", help="LABEL=DIR (a save_pretrained directory)")
    parser.add_argument("--task", default="", help="task of the problems (default: the problems' own)")
    parser.add_argument("--task-config", default="{}", help="the task's Config as a JSON object (the math task's probes need its "
                        "step-grammar kinds, e.g. '{\"kinds\": [\"linear_equation\", \"quadratic_root\"]}')")
    parser.add_argument("--problems", default="", help="held-out problems: a .jsonl file or a problem spec")
    parser.add_argument("--n-problems", type=int, default=200)
    parser.add_argument("--n-verify", type=int, default=100)
    parser.add_argument("--problem-seed", type=int, default=1_000_003, help="stream of the generated held-out problems")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    models = {}
    for item in args.models:
        label, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: write LABEL=DIR.")
        models[label] = path
    try:
        task_config = json.loads(args.task_config)
        if not isinstance(task_config, dict):
            raise ValueError
    except ValueError:
        parser.error(f"--task-config {args.task_config!r}: write a JSON object, e.g. '{{\"max_number\": 9}}'.")
    try:
        if args.problems:
            problems = load_problems(args.problems)
            task = astro_env.get_task(args.task or problems[0].task, task_config)
        elif args.task:
            task = astro_env.get_task(args.task, task_config)
            problems = task.generate(max(args.n_problems, args.n_verify), args.problem_seed)  # type: ignore[attr-defined]
        else:
            parser.error("give --problems FILE or --task NAME.")
        report = competence_report(task, models, problems, CompetenceConfig(n_problems=min(args.n_problems, len(problems)),
                                                                             n_verify=args.n_verify))
    except UserError as exc:
        parser.exit(2, f"competence: {exc}\n")
    if report is None:
        parser.exit(2, f"competence: task {task.name!r} defines no competence probes.\n")
    print(format_competence_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
