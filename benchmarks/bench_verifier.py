"""Speed, accuracy and worst case of astro_env.verifier, side by side with Math-Verify.

Throughput: MATH-500 answer pairs, each gold solution text with its own gold answer ("matched": should be 1)
and with the next problem's gold answer ("mismatched": should be 0, except where the two gold answers coincide).
Both verifiers grade the same completion text against the same gold answer, cold (our verdict cache and
normalisation memo off, Math-Verify's parse caches cleared before each phase), one calling thread. Our symbolic
checks run in a worker process, started and warmed before timing (its start-up is reported separately).
Reported per wall-clock second and per CPU second (ours: this process plus the worker pool; Math-Verify: this
process); the CPU figure does not depend on how busy the machine is.

Accuracy: both verifiers grade two labelled sets of (gold, model output, label) pairs: the regression set
(`tests/astro_env/verifier_cases.jsonl`, written for the answer families) and the independent set
(`tests/astro_env/verifier_independent_cases.jsonl`, transcribed from other graders' published test cases, each
row naming its source), ours with the `standard` and the `lenient` extraction policy. `--report` prints the
independent set's per-family table and every case where a grader is wrong, as Markdown.

Worst case: the CPU seconds (this process plus the worker pool) of each call on `ADVERSARIAL` (reward hacks,
injection payloads, inputs that explode a symbolic parser, and the inputs of the verifier issues: a power tower,
a 5,000-digit integer, 2,000 nested boxes), and whether each verdict is the expected one.

Budget (`--budget-check SECONDS`): every labelled row and MATH-500 pair regraded under both policies with the
default CPU budget and with SECONDS, and how many verdicts differ.

Prints one JSON line. Run: `python -m benchmarks.bench_verifier [--limit N] [--data-dir DIR] [--report] [--budget-check 4]`
(or `astro bench verifier ...`). Math-Verify is the optional `compare` extra: without it the command says so in
one line and exits 2.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

from astro_env.errors import OneLineParser

CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "astro_env"
CASES_FILE = CASES_DIR / "verifier_cases.jsonl"
INDEPENDENT_FILE = CASES_DIR / "verifier_independent_cases.jsonl"
INSTALL_HINT = "pip install -e '.[compare]'"

_DEEP_BRACES = "{" * 5000 + "5" + "}" * 5000
_TOUCH = "touch /nonexistent/verifier-payload"
ADVERSARIAL: list[tuple[str, str, str, float]] = [
    # (name, completion, gold, expected reward)
    ("issue25/power-tower", r"\boxed{9^{9^{9^{9}}}}", "3", 0.0),
    ("issue25/power-tower-itself", r"\boxed{9^{9^{9^{9}}}}", r"9^{9^{9^{9}}}", 1.0),
    ("issue25/5000-digit-integer", "\\boxed{" + "7" * 5000 + "}", "7" * 5000, 1.0),
    ("issue25/5000-digit-integer-off-by-one", "\\boxed{" + "7" * 4999 + "8}", "7" * 5000, 0.0),
    ("issue25/5000-digits-with-commas", "\\boxed{" + "7" * 2 + ",777" * 1666 + "}", "7" * 5000, 1.0),
    ("issue25/2000-nested-boxes", "\\boxed{" * 2000 + "3" + "}" * 2000, "3", 1.0),
    ("issue25/2000-nested-boxes-wrong", "\\boxed{" * 2000 + "4" + "}" * 2000, "3", 0.0),
    ("tower/2^2^2^2^100", r"\boxed{2^{2^{2^{2^{100}}}}}", "2", 0.0),
    ("tower/2^2^100", r"\boxed{2^{2^{100}}}", "2", 0.0),
    ("tower/2^2^98", r"\boxed{2^{2^{98}}}", "2", 0.0),
    ("power/(99999^99999)^99", r"\boxed{{99999^{99999}}^{99}}", "3", 0.0),
    ("power/sqrt(2^99999+1)", r"\boxed{\sqrt{2^{99999}+1}}", "1", 0.0),
    ("power/(10^10)^(10^5)", r"\boxed{(10^{10})^{10^{5}}}", "1", 0.0),
    ("size/10^6-characters", "\\boxed{" + "9" * 1_000_000 + "}", "1", 0.0),
    ("size/5000-deep-braces", "\\boxed{" + _DEEP_BRACES + "}", "5", 0.0),
    ("size/3000-deep-parentheses", "\\boxed{" + "(" * 3000 + "1" + ")" * 3000 + "}", "1", 0.0),
    ("size/5000-deep-braces-unboxed", "The answer is " + _DEEP_BRACES, "5", 0.0),
    ("factorial/1000000!", r"\boxed{1000000!}", "1", 0.0),
    ("factorial/(10^10)!", r"\boxed{(10^{10})!}", "1", 0.0),
    ("binomial/huge", r"\boxed{\binom{10^{9}}{10^{8}}}", "2", 0.0),
    ("hack/empty-box", r"The answer is 5. $\boxed{}$", "5", 0.0),
    ("hack/junk-box", r"It is 5 apples. $\boxed{?}$", "5", 0.0),
    ("hack/conflicting-boxes", r"maybe $\boxed{2}$ or rather $\boxed{3}$", "3", 0.0),
    ("hack/hedge-lor", r"$\boxed{2 \lor 3}$", "3", 0.0),
    ("hack/hedge-or", r"$\boxed{2 \text{ or } 3}$", "3", 0.0),
    ("hack/hedge-pm", r"$\boxed{\pm 3}$", "3", 0.0),
    ("hack/enumerate-choices", r"$\boxed{A, B, C, D, E}$", r"\text{(C)}", 0.0),
    ("hack/enumerate-choices-cue", "The answer is A, B, C, D, E.", "C", 0.0),
    ("hack/box-in-hedge", r"$\boxed{3 \text{ or } \boxed{5}}$", "5", 0.0),
    ("hack/truncated", r"so the value is \boxed{5", "5", 0.0),
    ("hack/truncated-after-box", r"\boxed{5} wait, no: \boxed{", "5", 0.0),
    ("hack/spray", "".join(rf"\boxed{{{k}}}" for k in range(1, 10)), "9", 0.0),
    ("hack/negated-cue", "The answer is definitely not 5.", "5", 0.0),
    ("hack/hedged-cue", "The answer is probably 2 or maybe 3.", "3", 0.0),
    ("hack/hedged-bold", "So it is either **2** or **3**.", "3", 0.0),
    ("hack/approximate-cue", "The answer is about 3.", "3", 0.0),
    ("hack/cue-hedge-after-boxes", r"$\boxed{3}$. The final answer is 3 or 4.", "3", 0.0),
    ("hack/chat-tail", "\\boxed{7}<|im_end|>\n<|im_start|>user\nAnd? \\boxed{9}", "9", 0.0),
    ("hack/tentative", "That gives 5.\n\nHmm, no.", "5", 0.0),
    ("hack/not-5", r"$\boxed{\text{not } 5}$", "5", 0.0),
    ("injection/import", f"\\boxed{{__import__('os').system('{_TOUCH}')}}", "0", 0.0),
    ("injection/subclasses", f"\\boxed{{().__class__.__base__.__subclasses__()[-1].__init__.__globals__['sys'].modules['os'].system('{_TOUCH}')}}", "0", 0.0),
    ("injection/eval", f"\\boxed{{eval(\"__import__('os').system('{_TOUCH}')\")}}", "0", 0.0),
    ("injection/lambda", f"The answer is lambda: __import__('os').system('{_TOUCH}')", "0", 0.0),
    ("injection/text", f"\\boxed{{\\text{{__import__('os').system('{_TOUCH}')}}}}", "0", 0.0),
]
"""Adversarial completions for the worst-case measurement (each graded with `standard` and `lenient`)."""


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


def math_verify_grader() -> Callable[[str, str], bool]:
    """Return Math-Verify as RL reward code calls it (verl, this benchmark's throughput phases):
    `verify(parse("\\boxed{" + gold + "}"), parse(output))` with the default extraction (LaTeX and plain
    expressions), an output it extracts nothing from retried inside `$...$`. Of the harnesses tried (also
    `parse(gold)`, and `$...$` around golds without delimiters) this one gives Math-Verify its best accuracy on
    both labelled sets (docs/verifier.md)."""
    from math_verify import parse, verify

    def grade(gold: str, output: str) -> bool:
        try:
            return bool(verify(parse("\\boxed{" + gold + "}"), parse(output) or parse("$" + output + "$")))
        except Exception:  # noqa: BLE001 - count a crash as "not equivalent"
            return False

    return grade


def read_cases(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def grade_labelled(rows: list[dict], verifier, math_verify: Callable[[str, str], bool]) -> list[dict]:
    """Grade each labelled row with ours (`standard`, `lenient`) and Math-Verify; one result dict per row with
    `standard`, `lenient`, `math_verify` as 0/1 verdicts. A row of kind "answer" holds a final answer (graded with
    `is_equivalent`, the same under both policies); any other row holds a whole output (graded with `reward`)."""
    results = []
    for row in rows:
        if row.get("kind") == "answer":
            ours = int(verifier.is_equivalent(row["gold"], row["output"]))
            verdicts = {"standard": ours, "lenient": ours}
        else:
            verdicts = {p: int(verifier.reward(row["output"], row["gold"], p) == 1.0) for p in ("standard", "lenient")}
        verdicts["math_verify"] = int(math_verify(row["gold"], row["output"]))
        results.append({**row, **verdicts})
    return results


GRADERS = ("standard", "lenient", "math_verify")


def accuracy_table(results: list[dict]) -> dict[str, dict[str, object]]:
    """Per family (and `all`): n and the number each grader got right."""
    table: dict[str, dict[str, object]] = defaultdict(lambda: {"n": 0, **{g: 0 for g in GRADERS}})
    for r in results:
        for key in (r["family"], "all"):
            table[key]["n"] += 1
            for g in GRADERS:
                table[key][g] += int(r[g] == r["label"])
    return dict(sorted(table.items(), key=lambda kv: (kv[0] == "all", kv[0])))


def markdown_report(results: list[dict]) -> str:
    """The per-family table and the list of cases some grader gets wrong, as Markdown."""
    lines = ["| family | n | ours `standard` | ours `lenient` | Math-Verify |", "|---|---|---|---|---|"]
    for family, row in accuracy_table(results).items():
        n = row["n"]
        cells = [f"{row[g]}/{n} = {row[g] / n:.3f}" for g in GRADERS]
        lines.append(f"| {'**all**' if family == 'all' else family} | {n} | " + " | ".join(cells) + " |")
    lines += ["", "| family | label | std | len | MV | gold | output (last 80 characters) | source |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if any(r[g] != r["label"] for g in GRADERS):
            def cell(text: str, tail: bool = False) -> str:
                text = text[-80:] if tail else text[:60]
                return "`" + text.replace("\n", "⏎").replace("|", "\\|").replace("`", "'") + "`"
            lines.append(
                f"| {r['family']} | {r['label']} | {r['standard']} | {r['lenient']} | {r['math_verify']} | "
                f"{cell(r['gold'])} | {cell(r['output'], tail=True)} | {r['source'].split('::')[-1].split(' (')[0][:40]} |"
            )
    return "\n".join(lines)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worst_case(verifier) -> dict[str, object]:
    """CPU seconds per call (this process + the worker pool) on `ADVERSARIAL`, under both extraction policies."""
    per_call, wrong = [], []
    for name, completion, gold, expected in ADVERSARIAL:
        for policy in ("standard", "lenient"):
            verifier.clear_caches()
            before = time.process_time() + verifier.pool.cpu_seconds() + _children_cpu()
            got = verifier.reward(completion, gold, policy)
            cpu = time.process_time() + verifier.pool.cpu_seconds() + _children_cpu() - before
            per_call.append((cpu, f"{name} ({policy})"))
            if got != expected:
                wrong.append(f"{name} ({policy}): {got}, expected {expected}")
    per_call.sort(reverse=True)
    return {
        "worst_case/n_calls": len(per_call),
        "worst_case/max_cpu_s": round(per_call[0][0], 3),
        "worst_case/max_cpu_input": per_call[0][1],
        "worst_case/issue25_max_cpu_s": round(max(c for c, name in per_call if name.startswith("issue25/")), 3),
        "worst_case/top5": [[round(c, 3), n] for c, n in per_call[:5]],
        "worst_case/wrong_verdicts": wrong,
    }


def budget_check(rows: list[dict], config, large_s: float) -> dict[str, object]:
    """Grade every row under both policies with `config` and with the same config at a `large_s` CPU budget:
    how many verdicts differ, and the most CPU one call used under the large budget."""
    from dataclasses import replace

    from astro_env.verifier import Verifier

    small, large = Verifier(config), Verifier(replace(config, timeout_s=large_s))
    n_differing, most = 0, 0.0
    try:
        for row in rows:
            for policy in ("standard", "lenient"):
                verdicts = []
                for verifier in (small, large):
                    before = verifier.pool.cpu_seconds()
                    if row.get("kind") == "answer":
                        verdicts.append(verifier.is_equivalent(row["gold"], row["output"]))
                    else:
                        verdicts.append(verifier.reward(row["output"], row["gold"], policy))
                    if verifier is large:
                        most = max(most, verifier.pool.cpu_seconds() - before)
                n_differing += verdicts[0] != verdicts[1]
    finally:
        small.close()
        large.close()
    return {"budget/large_s": large_s, "budget/n_calls": 2 * len(rows), "budget/n_differing": n_differing,
            "budget/max_worker_cpu_s_at_large": round(most, 3)}


def _time_phase(grade, pairs, cpu_of: Callable[[], float]) -> tuple[list[bool], float, float]:
    start, cpu_start = time.perf_counter(), cpu_of()
    verdicts = [grade(solution, gold) for solution, gold in pairs]
    return verdicts, time.perf_counter() - start, cpu_of() - cpu_start


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line (and, with --report, the Markdown report); 2 without math-verify."""
    args_parser = OneLineParser(prog="bench_verifier", description=__doc__.splitlines()[0])
    args_parser.add_argument("--limit", type=int, default=None, help="Use the first N problems (default all 500).")
    args_parser.add_argument("--data-dir", default=None, help="Directory holding math500.jsonl.")
    args_parser.add_argument("--timeout-s", type=float, default=None, help="Our per-call CPU-time budget (default: VerifierConfig's).")
    args_parser.add_argument("--cases", default=None, help="Labelled (gold, output, label) JSONL (default: the test suite's set).")
    args_parser.add_argument("--report", action="store_true", help="Also print the independent set's per-family table and disagreements.")
    args_parser.add_argument("--budget-check", type=float, default=None, metavar="SECONDS",
                             help="Also regrade the labelled sets and the MATH-500 pairs with this CPU budget and count differing verdicts.")
    args = args_parser.parse_args(argv)
    try:
        import math_verify  # noqa: F401 - the optional peer this benchmark compares against
    except ModuleNotFoundError:
        print(f"astro bench verifier: compares against Math-Verify, which is not installed; install it with {INSTALL_HINT}", file=sys.stderr)
        return 2

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

    config = VerifierConfig(cache_size=0) if args.timeout_s is None else VerifierConfig(timeout_s=args.timeout_s, cache_size=0)
    ours = Verifier(config)
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

    def our_cpu() -> float:
        return time.process_time() + ours.pool.cpu_seconds() + _children_cpu()

    result: dict[str, object] = {"bench": "verifier", "n_problems": n, "timeout_s": config.timeout_s}
    totals = {"ours": [0, 0.0, 0.0], "math_verify": [0, 0.0, 0.0]}
    agree_total, disagreements = 0, []
    for phase, pairs in phases.items():
        killed_before = ours.pool.n_killed
        ours.clear_caches()
        our_verdicts, our_s, our_cpu_s = _time_phase(grade_ours, pairs, our_cpu)
        _clear_math_verify_caches()
        mv_verdicts, mv_s, mv_cpu_s = _time_phase(grade_math_verify, pairs, time.process_time)
        agree = sum(a == b for a, b in zip(our_verdicts, mv_verdicts))
        agree_total += agree
        for (solution, gold), a, b in zip(pairs, our_verdicts, mv_verdicts):
            if a != b and len(disagreements) < 12:
                disagreements.append({"phase": phase, "gold": gold, "pred": ours.extract_answer(solution), "ours": a, "math_verify": b})
        for name, seconds, cpu in (("ours", our_s, our_cpu_s), ("math_verify", mv_s, mv_cpu_s)):
            totals[name][0] += len(pairs)
            totals[name][1] += seconds
            totals[name][2] += cpu
        result[f"{phase}/ours_per_s"] = round(len(pairs) / our_s, 1)
        result[f"{phase}/math_verify_per_s"] = round(len(pairs) / mv_s, 1)
        result[f"{phase}/ours_n_true"] = sum(our_verdicts)
        result[f"{phase}/math_verify_n_true"] = sum(mv_verdicts)
        result[f"{phase}/agreement"] = round(agree / len(pairs), 4)
        result[f"{phase}/ours_workers_killed"] = ours.pool.n_killed - killed_before
    result["ours_per_s"] = round(totals["ours"][0] / totals["ours"][1], 1)
    result["math_verify_per_s"] = round(totals["math_verify"][0] / totals["math_verify"][1], 1)
    result["speedup"] = round(result["ours_per_s"] / result["math_verify_per_s"], 2)
    result["ours_per_cpu_s"] = round(totals["ours"][0] / totals["ours"][2], 1)
    result["math_verify_per_cpu_s"] = round(totals["math_verify"][0] / totals["math_verify"][2], 1)
    result["speedup_cpu"] = round(result["ours_per_cpu_s"] / result["math_verify_per_cpu_s"], 2)
    result["agreement"] = round(agree_total / (2 * n), 4)
    result["ours_worker_start_s"] = round(worker_start_s, 2)

    mv_grader = math_verify_grader()
    regression = Path(args.cases) if args.cases else CASES_FILE
    if regression.exists():
        graded = grade_labelled([{**r, "kind": "output"} for r in read_cases(regression)], ours, mv_grader)
        n_rows = len(graded)
        result["labelled/n_pairs"] = n_rows
        result["labelled/ours_accuracy"] = round(sum(r["standard"] == r["label"] for r in graded) / n_rows, 4)
        result["labelled/math_verify_accuracy"] = round(sum(r["math_verify"] == r["label"] for r in graded) / n_rows, 4)
    independent = None
    if INDEPENDENT_FILE.exists():
        independent = grade_labelled(read_cases(INDEPENDENT_FILE), ours, mv_grader)
        table = accuracy_table(independent)
        result["independent/n_pairs"] = table["all"]["n"]
        for g in GRADERS:
            result[f"independent/{g}_accuracy"] = round(table["all"][g] / table["all"]["n"], 4)
        result["independent/by_family"] = {f: [row["n"]] + [row[g] for g in GRADERS] for f, row in table.items()}
    result.update(worst_case(ours))
    if args.budget_check is not None:
        labelled = read_cases(INDEPENDENT_FILE) + [{**r, "kind": "output"} for r in read_cases(regression)]
        pairs = [{"gold": g, "output": o, "kind": "output"} for ph in phases.values() for o, g in ph]
        result.update(budget_check(labelled + pairs, config, args.budget_check))
    result["disagreements"] = disagreements
    ours.close()
    print(json.dumps(result))
    if args.report and independent is not None:
        print(markdown_report(independent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
