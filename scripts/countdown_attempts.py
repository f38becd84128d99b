"""What happens after a miss: how a Countdown run's ASTRO completions (and traces) jump back and retry.

For each run folder and each model it reads `seedN/eval-<model>/test/completions.jsonl` of the run's
first training seed (and the run's ASTRO traces as a row of their own) and prints, per completion set:

- first miss: completions whose first attempt is wrong; recovered: the share of those still solved
  (n/a for traces);
- jumps: jumps back per completion (backtracks and restarts, by the default phrase bank);
- restarts: the share of the jumps that go back to the start;
- dead: the share of backtracks that land on numbers from which the target cannot be reached
  (`astro_env.countdown.solve`: the task's own step grammar);
- repeat: the share of jumps whose next step is one the completion already wrote;
- target ok: the share of attempts after the first whose comparison states the prompt's target;
- numbers ok: the share of first steps after a restart that use two of the prompt's numbers.

    python scripts/countdown_attempts.py runs/default runs/x [--models astro-sft astro-rl]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from astro_env.countdown import solve
from search.verbalize import PhraseBank

_BANK = PhraseBank.load()
_BACK = re.escape(_BANK.backtrack).replace(re.escape("{target}"), r"(?P<target>.*?)")
_JUMP = re.compile(rf"(?:{_BACK}|(?P<restart>{re.escape(_BANK.restart)}))")
_STEP = re.compile(r"^(\d+)\s*[-+*/]\s*(\d+)\s*=")
_TARGET = re.compile(r"the target is (\d+)")
_LEFT = re.compile(r"left: ([\d ]+)")


def attempt_stats(rows: list[dict], problems: dict[str, dict]) -> dict[str, float | int]:
    """The measures of the module docstring over completion rows (`problem_id`, `completion`, and for
    evaluation rows `correct` and `first_attempt_correct`)."""
    n = len(rows)
    first_miss = recovered = jumps = restarts = backtracks = dead = repeats = 0
    target_n = target_ok = numbers_n = numbers_ok = 0
    for row in rows:
        meta = problems[row["problem_id"]]["metadata"]
        goal, numbers = int(meta["target"]), sorted(int(x) for x in meta["numbers"])
        text = row["completion"]
        if "first_attempt_correct" in row and not row["first_attempt_correct"]:
            first_miss += 1
            recovered += bool(row.get("correct"))
        pieces, pos = [], 0
        for m in _JUMP.finditer(text):
            pieces.append((text[pos:m.start()], m))
            pos = m.end()
        pieces.append((text[pos:], None))
        written: list[str] = []
        for idx, (chunk, _) in enumerate(pieces):
            steps = [s.strip() for s in chunk.split("\n\n") if s.strip()]
            jump = pieces[idx - 1][1] if idx else None
            if jump is not None:
                jumps += 1
                first = next((s for s in steps if _STEP.match(s)), None)
                if first is not None and first in written:
                    repeats += 1
                if jump.group("restart"):
                    restarts += 1
                    if first is not None:
                        used = [int(x) for x in _STEP.match(first).groups()]
                        pool = list(numbers)
                        numbers_n += 1
                        numbers_ok += all(u in pool and not pool.remove(u) for u in used)
                else:
                    backtracks += 1
                    left = _LEFT.search(jump.group("target") or "")
                    if left and solve([int(x) for x in left.group(1).split()], goal) is None:
                        dead += 1
                stated = _TARGET.search(chunk)
                if stated:
                    target_n += 1
                    target_ok += int(stated.group(1)) == goal
            written += [s for s in steps if _STEP.match(s)]
    share = lambda a, b: a / b if b else float("nan")  # noqa: E731
    evaluated = any("first_attempt_correct" in row for row in rows)
    return {"completions": n, "first miss": first_miss if evaluated else float("nan"), "recovered": share(recovered, first_miss),
            "jumps": share(jumps, n), "restarts": share(restarts, jumps), "dead": share(dead, backtracks),
            "repeat": share(repeats, jumps), "target ok": share(target_ok, target_n),
            "numbers ok": share(numbers_ok, numbers_n)}


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _first_seed(run: Path) -> int:
    """The run's first training seed (`run_config.json`; 0 for a folder without one)."""
    config = run / "run_config.json"
    return int(json.loads(config.read_text())["seeds"][0]) if config.is_file() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of a Countdown run")
    parser.add_argument("--models", nargs="+", default=["astro-sft", "astro-rl"], help="models to read (eval-<model>)")
    args = parser.parse_args(argv)
    keys = ["completions", "first miss", "recovered", "jumps", "restarts", "dead", "repeat", "target ok", "numbers ok"]
    for run in args.runs:
        if not (run / "problems" / "eval" / "test.jsonl").is_file():
            print(f"countdown_attempts: {run} has no problems/eval/test.jsonl (not a finished run folder).", file=sys.stderr)
            return 2
    print("| run | set | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for run in args.runs:
        test = run / "problems" / "eval" / "test.jsonl"
        problems = {p["id"]: p for p in _read(test)}
        problems.update({p["id"]: p for p in _read(run / "problems" / "train.jsonl")})
        sets = [("traces", run / "traces" / "traces_astro.jsonl")]
        seed_dir = run / f"seed{_first_seed(run)}"
        sets += [(m, seed_dir / f"eval-{m}" / "test" / "completions.jsonl") for m in args.models]
        for name, path in sets:
            if not path.is_file():
                continue
            stats = attempt_stats(_read(path), problems)
            cells = [str(v) if isinstance(v, int) else "n/a" if v != v else f"{v:.2f}" for v in (stats[k] for k in keys)]
            print(f"| {run.name} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
