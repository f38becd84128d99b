"""The independent labelled set: ours against Math-Verify on other graders' published test cases.

`verifier_independent_cases.jsonl` holds (gold, output, label) rows transcribed from other graders' test
suites and issue reports (Math-Verify, lighteval, NeMo-Skills, Hendrycks' MATH, Qwen2.5-Math, verl, TRL,
simple-evals, slime), each naming its source; the labels are the sources' own. Rows of kind "answer" compare
two final answers, rows of kind "output" grade a whole output. docs/verifier.md holds the per-family table
and the cases where a grader is wrong (`python -m benchmarks.bench_verifier --report`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from astro_env.verifier import Verifier, VerifierConfig

CASES = Path(__file__).with_name("verifier_independent_cases.jsonl")
FAMILIES = {
    "choices", "expressions", "gold", "intervals", "labels", "languages", "location", "matrices", "multi",
    "numbers", "relations", "text", "units",
}
UNBOXED_BY_SOURCE = {"languages", "matrices", "relations"}
"""Families whose outputs are mostly prose with no box and no answer cue, which the `standard` policy (the RL
reward) refuses by design; Math-Verify and `lenient` read the last expression."""


def _rows() -> list[dict]:
    with CASES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_cases_are_well_formed_and_name_their_sources():
    rows = _rows()
    assert len(rows) >= 300
    assert all(set(r) == {"gold", "output", "label", "family", "kind", "source"} for r in rows)
    assert all(r["label"] in (0, 1) and r["kind"] in ("answer", "output") and r["family"] in FAMILIES for r in rows)
    assert all("/" in r["source"].split(" ")[0] for r in rows)  # owner/repository first
    assert len({(r["gold"], r["output"]) for r in rows}) == len(rows)
    repositories = Counter(r["source"].split(" ")[0] for r in rows)
    assert len(repositories) >= 8
    assert min(Counter(r["family"] for r in rows).values()) >= 10


@pytest.mark.slow
def test_accuracy_against_math_verify_per_family():
    pytest.importorskip("math_verify", reason="the comparison needs the test extra (math-verify)")
    from benchmarks.bench_verifier import GRADERS, accuracy_table, grade_labelled, math_verify_grader

    logging.disable(logging.WARNING)
    verifier = Verifier(VerifierConfig(cache_size=0))
    try:
        results = grade_labelled(_rows(), verifier, math_verify_grader())
    finally:
        verifier.close()
    table = accuracy_table(results)
    print({family: [row["n"]] + [row[g] for g in GRADERS] for family, row in table.items()})
    overall = table.pop("all")
    assert overall["standard"] >= overall["math_verify"]
    assert overall["lenient"] > overall["math_verify"]
    for family, row in table.items():
        assert row["lenient"] >= row["math_verify"], family
        if family not in UNBOXED_BY_SOURCE:
            assert row["standard"] >= row["math_verify"], family
    # Where `standard` trails, it is only on outputs that state their answer without a box or a cue.
    from astro_env._verifier_extract import extract

    for r in results:
        if r["standard"] != r["label"] and r["math_verify"] == r["label"] and r["family"] in UNBOXED_BY_SOURCE:
            assert r["kind"] == "output" and not extract(r["output"], "standard").answers, r["output"][-80:]
