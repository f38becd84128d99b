"""Speed and agreement of astro_env.verifier against Math-Verify on MATH-500 answer pairs.

Pairs: each gold solution text with its own gold answer ("matched": should be 1) and with the next
problem's gold answer ("mismatched": should be 0, except where the two gold answers coincide).
Both verifiers grade the same completion text against the same gold answer, cold (our verdict cache
off, Math-Verify's parse caches cleared before each phase), one calling thread. Our symbolic checks
run in a worker process, started and warmed before timing (its start-up is reported separately).

Accuracy: both verifiers also grade the labelled regression set (tests/astro_env/verifier_cases.jsonl:
(gold, whole model output, label) pairs across answer families, each with the source of its form);
`labelled/ours_accuracy` and `labelled/math_verify_accuracy` are the fractions graded as labelled.

Prints one JSON line. Run: `python -m benchmarks.bench_verifier [--limit N] [--data-dir DIR]`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path


def _find_math500(data_dir: str | None) -> Path:
    """Return the MATH-500 JSONL path: --data-dir, else $ASTRO_DATA_DIR, else ../shared/data."""
    root = Path(__file__).resolve().parents[1]
    candidates = [Path(d) for d in (data_dir, os.environ.get("ASTRO_DATA_DIR")) if d]
    candidates += [root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for directory in candidates:
        if (directory / "math500.jsonl").exists():
            return directory / "math500.jsonl"
    raise FileNotFoundError("math500.jsonl not found: pass --data-dir or set ASTRO_DATA_DIR")


def _clear_math_verify_caches() -> None:
    from math_verify import parser

    for name in ("parse_latex_cached", "parse_expr_cached"):
        cached = getattr(parser, name, None)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


CASES_FILE = Path(__file__).resolve().parents[1] / "tests" / "astro_env" / "verifier_cases.jsonl"


def _labelled_accuracy(grade_ours, grade_math_verify, cases_file: Path) -> dict[str, object]:
    """Accuracy of both graders on the labelled set (empty when the file is absent)."""
    if not cases_file.exists():
        return {}
    with cases_file.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    ours = sum(grade_ours(r["output"], r["gold"]) == bool(r["label"]) for r in rows)
    _clear_math_verify_caches()
    theirs = sum(grade_math_verify(r["output"], r["gold"]) == bool(r["label"]) for r in rows)
    return {
        "labelled/n_pairs": len(rows),
        "labelled/ours_accuracy": round(ours / len(rows), 4),
        "labelled/math_verify_accuracy": round(theirs / len(rows), 4),
    }


def _time_phase(grade, pairs) -> tuple[list[bool], float]:
    start = time.perf_counter()
    verdicts = [grade(solution, gold) for solution, gold in pairs]
    return verdicts, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line; returns 0."""
    args_parser = argparse.ArgumentParser(prog="bench_verifier", description=__doc__.splitlines()[0])
    args_parser.add_argument("--limit", type=int, default=None, help="Use the first N problems (default all 500).")
    args_parser.add_argument("--data-dir", default=None, help="Directory holding math500.jsonl.")
    args_parser.add_argument("--timeout-s", type=float, default=1.0, help="Our per-call CPU-time budget (symbolic part).")
    args_parser.add_argument("--cases", default=None, help="Labelled (gold, output, label) JSONL (default: the test suite's set).")
    args = args_parser.parse_args(argv)

    logging.disable(logging.WARNING)  # Math-Verify logs a warning per unparsable answer
    from math_verify import parse, verify

    from astro_env.verifier import Verifier, VerifierConfig

    with _find_math500(args.data_dir).open() as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    n = len(rows)
    phases = {
        "matched": [(r["solution"], r["answer"]) for r in rows],
        "mismatched": [(rows[i]["solution"], rows[(i + 1) % n]["answer"]) for i in range(n)],
    }

    ours = Verifier(VerifierConfig(timeout_s=args.timeout_s, cache_size=0))
    start = time.perf_counter()
    ours.is_equivalent(r"\cot x", r"\frac{\cos x}{\sin x}")  # start and warm the worker
    worker_start_s = time.perf_counter() - start
    parse(r"$\frac{1}{2}$")  # import-time work of Math-Verify, outside the timing too

    def grade_ours(solution: str, gold: str) -> bool:
        return ours.reward(solution, gold) == 1.0

    def grade_math_verify(solution: str, gold: str) -> bool:
        try:
            return bool(verify(parse("\\boxed{" + gold + "}"), parse(solution)))
        except Exception:  # noqa: BLE001 - count a crash as "not equivalent"
            return False

    result: dict[str, object] = {"bench": "verifier", "n_problems": n, "timeout_s": args.timeout_s}
    totals = {"ours": [0, 0.0], "math_verify": [0, 0.0]}
    agree_total, disagreements = 0, []
    for phase, pairs in phases.items():
        killed_before = ours.pool.n_killed
        our_verdicts, our_s = _time_phase(grade_ours, pairs)
        _clear_math_verify_caches()
        mv_verdicts, mv_s = _time_phase(grade_math_verify, pairs)
        agree = sum(a == b for a, b in zip(our_verdicts, mv_verdicts))
        agree_total += agree
        for (solution, gold), a, b in zip(pairs, our_verdicts, mv_verdicts):
            if a != b and len(disagreements) < 12:
                disagreements.append({"phase": phase, "gold": gold, "pred": ours.extract_answer(solution), "ours": a, "math_verify": b})
        totals["ours"][0] += len(pairs)
        totals["ours"][1] += our_s
        totals["math_verify"][0] += len(pairs)
        totals["math_verify"][1] += mv_s
        result[f"{phase}/ours_per_s"] = round(len(pairs) / our_s, 1)
        result[f"{phase}/math_verify_per_s"] = round(len(pairs) / mv_s, 1)
        result[f"{phase}/ours_n_true"] = sum(our_verdicts)
        result[f"{phase}/math_verify_n_true"] = sum(mv_verdicts)
        result[f"{phase}/agreement"] = round(agree / len(pairs), 4)
        result[f"{phase}/ours_workers_killed"] = ours.pool.n_killed - killed_before
    result["ours_per_s"] = round(totals["ours"][0] / totals["ours"][1], 1)
    result["math_verify_per_s"] = round(totals["math_verify"][0] / totals["math_verify"][1], 1)
    result["speedup"] = round(result["ours_per_s"] / result["math_verify_per_s"], 2)
    result["agreement"] = round(agree_total / (2 * n), 4)
    result["ours_worker_start_s"] = round(worker_start_s, 2)
    result.update(_labelled_accuracy(grade_ours, grade_math_verify, Path(args.cases) if args.cases else CASES_FILE))
    result["disagreements"] = disagreements
    ours.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
