import json

import pytest

from benchmarks.evaluate import BenchResult, EvalReport
from benchmarks.report import (
    comparison_json,
    comparison_rows,
    comparison_table,
    matched_table,
    paired_table,
    render_markdown,
    write_report,
)

SAMPLING = {"samples": 4, "temperature": 0.6, "top_p": 0.95, "max_tokens": 64, "seed": 0, "stop": [], "delimiter": "\n\n"}


def bench(name="math500", pass1=0.5, maj=0.6, tokens=100.0, backtracks=1.0, first=0.25, no_answer=0.125, truncated=0.05, **kw):
    return BenchResult(
        bench=name,
        n_problems=10,
        n_samples=4,
        pass_at_1=pass1,
        pass_at_k={"1": pass1, "4": 0.8},
        maj_at_k={"4": maj},
        mean_tokens=tokens,
        mean_backtracks=backtracks,
        mean_restarts=0.5,
        first_attempt_accuracy=first,
        finish_reasons={"eos": 40},
        data_file=f"{name}.jsonl",
        data_sha256="ab" * 32,
        problems_sha256="cd" * 32,
        maj_at_k_abstain={"4": maj + 0.1},
        no_answer_rate=no_answer,
        truncated_rate=truncated,
        **kw,
    )


def report(model="astro-rl", **kw):
    return EvalReport(model=model, sampling=SAMPLING, benches={"math500": bench(**kw)})


def test_markdown_holds_results_settings_and_hashes():
    r = EvalReport(
        model="astro-rl",
        sampling=SAMPLING,
        benches={
            "math500": bench(by_subject={"Algebra": {"n_problems": 10, "pass@1": 0.5}}, by_level={"1": {"n_problems": 10, "pass@1": 0.5}}),
            "aime24": bench("aime24", pass1=0.1, backtracks=None, first=None),
        },
    )
    md = render_markdown(r)
    assert md.startswith("# Evaluation: astro-rl")
    assert "temperature 0.6" in md and "top-p 0.95" in md and "4 samples per problem" in md
    assert ("| bench | problems | pass@1 | pass@4 | maj@4 | maj@4 abstain | no answer | truncated | mean tokens | backtracks "
            "| restarts | first-attempt acc. |") in md
    assert "| math500 | 10 | 50.0 | 80.0 | 60.0 | 70.0 | 12.5 | 5.0 | 100.0 | 1.00 | 0.50 | 25.0 |" in md
    assert "| aime24 | 10 | 10.0 | 80.0 | 60.0 | 70.0 | 12.5 | 5.0 | 100.0 | n/a | 0.50 | n/a |" in md
    assert "## math500 by subject" in md and "| Algebra | 10 | 50.0 |" in md
    assert "## aime24 by subject" not in md
    assert "`" + "ab" * 32 + "`" in md


def test_write_report_round_trips_json(tmp_path):
    r = report()
    md = write_report(r, tmp_path)
    assert (tmp_path / "report.md").read_text() == md
    assert EvalReport.from_dict(json.loads((tmp_path / "report.json").read_text())) == r


def test_comparison_intervals_over_seeds():
    models = {
        "base": report("base", pass1=0.2),
        "astro-rl": [report("astro-rl", pass1=0.4, backtracks=2.0), report("astro-rl", pass1=0.6, backtracks=4.0)],
    }
    rows = comparison_rows(models)
    assert [row["model"] for row in rows] == ["base", "astro-rl"]
    base, astro = rows[0]["benches"]["math500"], rows[1]["benches"]["math500"]
    assert base["pass@1"] == 0.2 and base["pass@1_ci95"] is None and base["n_seeds"] == 1
    assert astro["pass@1"] == pytest.approx(0.5)
    # two seeds: t(0.975, 1) * sd(0.4, 0.6) / sqrt(2) = 12.706 * 0.1
    assert astro["pass@1_ci95"] == pytest.approx(1.2706)
    assert astro["backtracks"] == pytest.approx(3.0 + 0.5)  # jumps back: backtracks plus the fixture's 0.5 restarts
    table = comparison_table(models)
    lines = table.strip().splitlines()
    assert lines[0] == ("| model | math500 pass@1 | math500 maj@4 | math500 tokens | math500 backtracks | math500 first-attempt "
                        "| math500 no answer | math500 truncated |")
    assert lines[2] == "| base | 20.0 | 60.0 | 100.0 | 1.50 | 25.0 | 12.5 | 5.0 |"
    assert lines[3] == "| astro-rl | 50.0 ± 127.1 | 60.0 | 100.0 | 3.50 | 25.0 | 12.5 | 5.0 |"
    assert json.loads(json.dumps(comparison_json(models)))["rows"] == json.loads(json.dumps(rows))


def test_comparison_marks_missing_benches():
    other = EvalReport(model="x", sampling=SAMPLING, benches={"aime24": bench("aime24")})
    table = comparison_table({"a": report("a"), "x": other}, benches=["math500", "aime24"])
    assert "| x | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 50.0 |" in table
    with pytest.raises(ValueError, match="no report"):
        comparison_rows({"empty": []})


def test_merge_requires_same_model_and_sampling():
    merged = EvalReport.merge([report(), EvalReport(model="astro-rl", sampling=SAMPLING, benches={"aime24": bench("aime24")})])
    assert list(merged.benches) == ["math500", "aime24"]
    with pytest.raises(ValueError, match="cannot merge"):
        EvalReport.merge([report("a"), report("b")])


def test_comparison_hides_maj_at_k_of_a_summary_without_a_no_answer_share():
    # such a summary let unanswered completions abstain from its vote
    old = EvalReport(model="a", sampling=SAMPLING, benches={"math500": bench(no_answer=None, truncated=None)})
    row = comparison_rows({"a": old})[0]["benches"]["math500"]
    assert row["maj@k"] is None and row["no_answer"] is None
    assert comparison_rows({"a": report("a")})[0]["benches"]["math500"]["maj@k"] == 0.6


def test_matched_table_marks_missing_values():
    at = {"pass@1": 0.42, "pass@1_ci95": None, "mean_tokens": 130.0, "max_attempts": 3.8, "n_seeds": 1}
    matched = {
        "models": {"direct-sft": {"pass@1": 0.2, "mean_tokens": 34.0, "n_seeds": 1},
                   "astro-sft": {"pass@1": 0.262, "mean_tokens": 130.0, "n_seeds": 1}},
        "baselines": {
            "direct-sft/self_check": {"source": "direct-sft", "stop": "self_check", "curve": [],
                                      "at": {"direct-sft": {**at, "pass@1": 0.2, "pass@1_ci95": 0.031}, "astro-sft": at}},
            "direct-sft/verifier": {"source": "direct-sft", "stop": "verifier", "curve": [],
                                    "at": {"direct-sft": {**at, "pass@1": 0.2}, "astro-sft": None}},
        },
    }
    lines = matched_table(matched, {"direct-sft": "Direct-SFT", "astro-sft": "ASTRO-SFT"}).strip().splitlines()
    assert lines[0] == ("| model | pass@1 | tokens/problem | Direct-SFT retry, self-check "
                        "| Direct-SFT best-of-n, verifier stop |")
    assert lines[2] == "| Direct-SFT | 20.0 | 34.0 | 20.0 ± 3.1 | 20.0 |"
    assert lines[3] == "| ASTRO-SFT | 26.2 | 130.0 | 42.0 | n/a |"


def test_paired_table():
    from benchmarks.replicate import paired_difference

    d = paired_difference("astro-rl", "direct-rl", "test", {"astro-rl": {0: 0.30, 1: 0.25}, "direct-rl": {0: 0.20, 1: 0.22}})
    one = paired_difference("astro-rl", "astro-sft", "test", {"astro-rl": {0: 0.30}, "astro-sft": {0: 0.31}})
    lines = paired_table([d, one], {"astro-rl": "ASTRO-RL", "direct-rl": "Direct-RL", "astro-sft": "ASTRO-SFT"}).strip().splitlines()
    # differences +10.0 and +3.0: mean +6.5, sd 4.95, half-width 12.706 * 4.95 / sqrt(2) = 44.5;
    # excluding 0 needs 5 seeds: 2.776 * 4.95 / sqrt(5) = 6.1 < 6.5 (4 seeds: 3.182 * 4.95 / 2 = 7.9)
    assert lines[2] == "| ASTRO-RL - Direct-RL | test | 2 | +10.0, +3.0 | +6.5 | [-38.0, +51.0] | n/a | 5 |"
    assert lines[3] == "| ASTRO-RL - ASTRO-SFT | test | 1 | -1.0 | -1.0 | n/a (1 seed) | n/a | n/a |"
