"""The labelled regression set: our reward against Math-Verify's on the same (gold, output) pairs.

`verifier_cases.jsonl` holds (gold, model output, label) pairs across the answer families graders
meet (relations, several answers, labels and equations, number formats, units, decimals, where the
answer is, matrices), each with the source of its form; `make_verifier_cases.py` writes it.
"""

from __future__ import annotations

import pytest

import json
import logging
from collections import Counter
from pathlib import Path


from astro_env.verifier import Verifier, VerifierConfig

CASES = Path(__file__).with_name("verifier_cases.jsonl")


def _rows() -> list[dict]:
    with CASES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_cases_file_is_well_formed_and_large_enough():
    rows = _rows()
    assert len(rows) >= 300
    assert all(set(r) == {"gold", "output", "label", "family", "source"} and r["label"] in (0, 1) and r["source"] for r in rows)
    families = Counter(r["family"] for r in rows)
    for family in ("relations", "multi", "equations", "numbers", "units", "decimals", "location", "matrices"):
        assert families[family] >= 3, family
    assert 0.2 < sum(r["label"] for r in rows) / len(rows) < 0.8


@pytest.mark.slow
def test_accuracy_is_at_least_math_verifys():
    import math_verify  # the test extra: the comparison
    logging.disable(logging.WARNING)
    rows = _rows()
    ours = Verifier(VerifierConfig(cache_size=0))
    try:
        our_right = [int(ours.reward(r["output"], r["gold"]) == float(r["label"])) for r in rows]
    finally:
        ours.close()

    def mv_reward(row: dict) -> float:
        try:
            gold = math_verify.parse("\\boxed{" + row["gold"] + "}")
            return 1.0 if math_verify.verify(gold, math_verify.parse(row["output"])) else 0.0
        except Exception:  # noqa: BLE001 - a crash counts as "not equivalent"
            return 0.0

    mv_right = [int(mv_reward(r) == float(r["label"])) for r in rows]
    n = len(rows)
    ours_acc, mv_acc = sum(our_right) / n, sum(mv_right) / n
    misses = [(r["family"], r["gold"], r["output"][:60]) for r, ok in zip(rows, our_right) if not ok]
    message = f"labelled set, n={n}: ours {sum(our_right)}/{n} = {ours_acc:.3f}, Math-Verify {sum(mv_right)}/{n} = {mv_acc:.3f}; our misses: {misses}"
    print(message)
    assert ours_acc >= mv_acc, message
    assert ours_acc >= 0.95, message
