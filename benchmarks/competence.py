"""Competence of Countdown policies: can the model play legally, do arithmetic, and check its work?

ASTRO's premise is a model that recognises a failed attempt. Before Direct and ASTRO are
compared, this table shows whether the models are competent at the parts the comparison
rests on, beside two reference rows:

- `legal_step_rate`: legal steps / steps written (a step after an illegal one is not legal;
  the first attempt of each completion, greedy decoding on held-out problems);
- `arithmetic_accuracy`: combination steps whose stated value is the true value of `A op B`;
- `target_copy_rate`: comparison sentences ("That gives 8; the target is 6, so this is not it.")
  that are true (the value written, the target copied, the verdict consistent with both);
- `solve_rate`: the task's reward of the same completions;
- `verification_auc`: given the correct steps of a solution up to its final combination,
  then a final combination that reaches the target or one that misses it, the model continues
  (greedily); it *accepts* when it boxes an answer before any doubt, backtrack or restart
  phrase. Between the forced steps the model's own confirm reflections are kept
  (`with_own_reflections`), so each model is probed on text in its own style. AUC = P(accept | reached) vs P(accept | missed) = 0.5 + (p_hit - p_miss) / 2 for
  these 0/1 decisions; 0.5 is no verification, 1.0 is perfect.

Reference rows: `random legal play` (one uniformly random legal walk; always accepts) and
`oracle-verified play` (random legal walks with a perfect check: up to `1 + max_retries`
attempts, accepting the first that reaches the target), an upper bound for what search with
exact verification gains over one random attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from astro_env.countdown import (
    CountdownTask,
    apply_step,
    initial_pool,
    legal_transitions,
    problem_numbers,
    solve_steps,
)
from astro_env.problem import Problem
from search.verbalize import PhraseBank
from training.embedded import competence_rates, generate_texts, walk_completion

RANDOM_ROW = "random legal play"
ORACLE_ROW = "oracle-verified play"
COMPETENCE_KEYS = ("legal_step_rate", "arithmetic_accuracy", "target_copy_rate", "solve_rate", "verification_auc")
"""Columns of the table, in order (report.json keeps at least the first two and the AUC)."""


@dataclass(frozen=True)
class CompetenceConfig:
    """How competence is measured (held-out problems, greedy decoding)."""

    n_problems: int = 200
    """Held-out problems decoded once each (greedy) for the step rates."""
    n_verify: int = 100
    """Problems giving one reached and one missed final combination each for the AUC."""
    max_new_tokens: int = 96
    """Token budget of each completion (a 3-number attempt with its comparison is ~30 tokens)."""
    max_retries: int = 3
    """Extra attempts the oracle-verified row may make after a miss."""
    seed: int = 0
    """Seeds the reference rows and the choice of missed combinations."""

    def __post_init__(self) -> None:
        if self.n_problems < 1 or self.n_verify < 0:
            raise ValueError(f"n_problems={self.n_problems}, n_verify={self.n_verify}: use n_problems >= 1, n_verify >= 0.")
        if self.max_new_tokens < 8:
            raise ValueError(f"max_new_tokens={self.max_new_tokens}: use >= 8 (one step is several tokens).")
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries}: use >= 0.")


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


def verification_prefixes(problems: Sequence[Problem], rng: random.Random, delimiter: str = "\n\n") -> list[tuple[Problem, str, bool]]:
    """(problem, prompt + steps, reaches_target) pairs: each solvable problem's solution up to its
    final combination, once with that combination (reaches) and once with a legal final
    combination from the same pool that misses (drawn by `rng`); problems without one are skipped."""
    task = CountdownTask()
    out = []
    for problem in problems:
        numbers, target = problem_numbers(problem)
        steps = solve_steps(numbers, target)
        if not steps or len(steps) < 2:
            continue
        before, hit = steps[:-2], steps[-2]
        pool = initial_pool(numbers)
        for step in before:
            pool = apply_step(pool, step)
        misses = [s for s, nxt in legal_transitions(pool) if nxt and nxt[-1][1] != target]
        if not misses:
            continue
        prompt = task.format_prompt(problem) + "".join(s + delimiter for s in before)
        out.append((problem, prompt + hit + delimiter, True))
        out.append((problem, prompt + rng.choice(misses) + delimiter, False))
    return out


def keep_reflection(chunk: str, banks: Sequence[PhraseBank] | None = None) -> bool:
    """Whether a chunk a model wrote after a forced intermediate step is kept in its verification
    prefix: only a confirm phrase of some style (pure).

    >>> keep_reflection(PhraseBank.load().confirm), keep_reflection("7*3=21; left: 21")
    (True, False)
    """
    confirms = {bank.confirm.strip() for bank in (banks if banks is not None else PhraseBank.load_all())}
    return isinstance(chunk, str) and bool(chunk.strip()) and chunk.strip() in confirms


def with_own_reflections(model: Any, tokenizer: Any, pairs: Sequence[tuple[Problem, str, bool]], max_new_tokens: int,
                         delimiter: str = "\n\n") -> list[str]:
    """The prefixes of `pairs` with the model's own reflections between the forced steps.

    After each forced step but the final combination the model writes its next chunk (greedy);
    a confirm phrase ("... seems to be correct so far.") is kept before the next forced step,
    anything else is dropped. A model trained on traces that confirm intermediate steps so sees
    the prefix in its own style, and one trained without sees the plain steps; either way the
    decision measured after the final combination is the model's, on its own kind of text.
    """
    task = CountdownTask()
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
        chunks = generate_texts(model, tokenizer, [texts[k] for k in todo], max_new_tokens)
        for k, chunk in zip(todo, chunks):
            first = chunk.split(delimiter)[0]
            if keep_reflection(first, banks):
                texts[k] += first.strip() + delimiter
    return texts


def auc_from_decisions(decisions: Sequence[tuple[bool, bool]]) -> dict[str, float]:
    """`{"verification_auc", "p_accept_reached", "p_accept_missed"}` from (reaches_target, accepted) pairs.

    >>> auc_from_decisions([(True, True), (False, False), (True, True), (False, True)])["verification_auc"]
    0.75
    """
    hits = [a for r, a in decisions if r]
    misses = [a for r, a in decisions if not r]
    p_hit = sum(hits) / len(hits) if hits else 0.0
    p_miss = sum(misses) / len(misses) if misses else 0.0
    return {"verification_auc": 0.5 + (p_hit - p_miss) / 2, "p_accept_reached": p_hit, "p_accept_missed": p_miss}


def model_competence(model: Any, tokenizer: Any, problems: Sequence[Problem], config: CompetenceConfig) -> dict[str, float]:
    """The competence row of one causal LM (greedy decoding; see the module doc)."""
    task = CountdownTask()
    held_out = list(problems[: config.n_problems])
    texts = generate_texts(model, tokenizer, [task.format_prompt(p) for p in held_out], config.max_new_tokens)
    row = competence_rates(held_out, texts)
    pairs = verification_prefixes(problems[: config.n_verify], random.Random(config.seed))
    if pairs:
        prefixes = with_own_reflections(model, tokenizer, pairs, config.max_new_tokens)
        continuations = generate_texts(model, tokenizer, prefixes, config.max_new_tokens)
        row.update(auc_from_decisions([(r, accepts(c)) for (_, _, r), c in zip(pairs, continuations)]))
    return row


def reference_rows(problems: Sequence[Problem], config: CompetenceConfig) -> dict[str, dict[str, float]]:
    """The random-legal-play and oracle-verified-play rows on the same held-out problems."""
    rng = random.Random(config.seed)
    task = CountdownTask()
    held_out = list(problems[: config.n_problems])
    texts, n_oracle = [], 0
    for problem in held_out:
        numbers, target = problem_numbers(problem)
        texts.append(walk_completion(numbers, target, rng))
        tries = [texts[-1]] + [walk_completion(numbers, target, rng) for _ in range(config.max_retries)]
        n_oracle += any(task.reward(problem, t) == 1.0 for t in tries)
    random_row = competence_rates(held_out, texts)
    random_row.update({"verification_auc": 0.5, "p_accept_reached": 1.0, "p_accept_missed": 1.0})
    oracle_row = dict(random_row, solve_rate=n_oracle / max(1, len(held_out)), verification_auc=1.0, p_accept_missed=0.0)
    return {RANDOM_ROW: random_row, f"{ORACLE_ROW} ({1 + config.max_retries} attempts)": oracle_row}


def competence_table(
    models: Mapping[str, str | Path | tuple[Any, Any]],
    problems: Sequence[Problem],
    config: CompetenceConfig = CompetenceConfig(),
) -> dict[str, dict[str, float]]:
    """`{label: row}` for each model (a save_pretrained directory, or a (model, tokenizer) pair),
    then the reference rows; each row holds `COMPETENCE_KEYS` plus the acceptance rates.

    What `report.json` stores under `competence`. `problems` are held-out Countdown problems
    (e.g. the run's test split).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    table: dict[str, dict[str, float]] = {}
    for label, source in models.items():
        if isinstance(source, tuple):
            model, tokenizer = source
        else:
            model = AutoModelForCausalLM.from_pretrained(str(source), torch_dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(str(source))
        table[label] = model_competence(model, tokenizer, problems, config)
    table.update(reference_rows(problems, config))
    return table


GATES: tuple[tuple[str, str, float], ...] = (
    ("Base", "legal_step_rate", 0.95),
    ("Base", "arithmetic_accuracy", 0.95),
    ("ASTRO-SFT", "verification_auc", 0.9),
)
"""(model label, column, least value): what a base and an ASTRO-SFT model must reach before the
Direct-vs-ASTRO comparison says something about the method rather than about a weak model."""


def gate_verdicts(table: Mapping[str, Mapping[str, float]], gates: Sequence[tuple[str, str, float]] = GATES) -> list[dict[str, Any]]:
    """One record per gate whose model is in `table`: label, key, least value, measured value, passed (pure).

    >>> gate_verdicts({"Base": {"legal_step_rate": 0.97, "arithmetic_accuracy": 0.9}})[1]["passed"]
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


def format_competence_table(table: Mapping[str, Mapping[str, float]]) -> str:
    """The table as Markdown, one row per model, columns `COMPETENCE_KEYS`."""
    lines = ["| model | " + " | ".join(k.replace("_", " ") for k in COMPETENCE_KEYS) + " |"]
    lines.append("|---" * (len(COMPETENCE_KEYS) + 1) + "|")
    for label, row in table.items():
        cells = [f"{row[k]:.3f}" if k in row else "n/a" for k in COMPETENCE_KEYS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.competence LABEL=DIR ... [--n-numbers 3 ...]`: print the table on fresh held-out problems."""
    import argparse
    import json

    from astro_env.countdown import CountdownConfig, generate_problems

    parser = argparse.ArgumentParser(description="Competence table of Countdown policies.")
    parser.add_argument("models", nargs="+", help="LABEL=DIR (a save_pretrained directory)")
    parser.add_argument("--n-problems", type=int, default=200)
    parser.add_argument("--n-verify", type=int, default=100)
    parser.add_argument("--n-numbers", type=int, default=3)
    parser.add_argument("--max-number", type=int, default=9)
    parser.add_argument("--max-target", type=int, default=50)
    parser.add_argument("--problem-seed", type=int, default=1_000_003, help="stream of the held-out problems")
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args(argv)
    models = {}
    for item in args.models:
        label, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: write LABEL=DIR.")
        models[label] = path
    cd = CountdownConfig(n_numbers=args.n_numbers, max_number=args.max_number, max_target=args.max_target)
    problems = generate_problems(max(args.n_problems, args.n_verify), args.problem_seed, cd)
    table = competence_table(models, problems, CompetenceConfig(n_problems=args.n_problems, n_verify=args.n_verify))
    print(format_competence_table(table))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
