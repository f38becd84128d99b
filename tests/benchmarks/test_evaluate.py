import hashlib
import json
import time

import pytest

import astro_env
from agents.base import Completion
from astro_env.jsonl import read_jsonl
from astro_env.problem import Problem
from benchmarks.evaluate import EvalConfig, EvalRecord, EvalReport, evaluate, score_completion


DOUBT = "But wait, are we solving the problem correctly so far? Hmm... I'm not sure if we're solving the problem correctly so far."
RESTART = "Let's restart our solution from the beginning and try a different approach."


def prompt_of(problem):
    return astro_env.get_task(problem.task).format_prompt(problem)


class FakePolicy:
    """Returns, for each prompt, the next texts of a fixed per-problem list (cycling); counts calls."""

    name = "fake-model"

    def __init__(self, problems, texts_by_id, token_ids=False):
        self.by_prompt = {prompt_of(p): texts_by_id[p.id] for p in problems}
        self.calls = []  # (n_prompts, n)
        self.served = {}
        self.token_ids = token_ids

    def complete(self, prompts, n, sampling):
        self.calls.append((len(prompts), n, sampling))
        out = []
        for prompt in prompts:
            texts = self.by_prompt[prompt]
            start = self.served.get(prompt, 0)
            self.served[prompt] = start + n
            row = []
            for i in range(start, start + n):
                text = texts[i % len(texts)]
                ids = tuple(range(len(text.split()) * 2)) if self.token_ids else ()
                row.append(Completion(text=text, token_ids=ids, finish_reason="length" if "cut" in text else "eos"))
            out.append(row)
        return out

    def propose_steps(self, states, n, sampling=None):
        raise NotImplementedError


P1 = Problem(id="p1", problem="What is 2+2?", answer="4", subject="Algebra", level=1)
P2 = Problem(id="p2", problem="What is 3*3?", answer="9", subject="Geometry", level=3)
TEXTS = {
    # p1: 3 of 4 right; the last one is right after a restart (first attempt wrong)
    "p1": [
        "2+2 = 4, so \\boxed{4}",
        "I guess \\boxed{5}",
        "2 plus 2 is 4. \\boxed{4}",
        f"Add 2 and 2.\n\nThat gives 5.\n\n{DOUBT}\n\n{RESTART}\n\n2+2=4, so \\boxed{{4}}",
    ],
    # p2: 1 of 4 right, one without an answer
    "p2": ["\\boxed{9}", "\\boxed{6}", "\\boxed{6}", "no idea, cut"],
}


def test_records_verdicts_and_aggregates(tmp_path):
    policy = FakePolicy([P1, P2], TEXTS)
    config = EvalConfig(samples=4, pass_ks=(1, 2, 4), maj_k=4, batch_size=8)
    report = evaluate(policy, [P1, P2], config, tmp_path, bench_name="toy")

    rows = read_jsonl(tmp_path / "completions.jsonl")
    assert len(rows) == 8
    records = {(r["problem_id"], r["sample_idx"]): EvalRecord.from_dict(r) for r in rows}
    assert [records[("p1", i)].correct for i in range(4)] == [True, False, True, True]
    assert [records[("p2", i)].correct for i in range(4)] == [True, False, False, False]
    assert records[("p1", 1)].answer == "5"
    assert records[("p2", 3)].answer is None and records[("p2", 3)].finish_reason == "length"
    restart = records[("p1", 3)]
    assert (restart.n_restarts, restart.n_backtracks, restart.first_attempt_correct) == (1, 0, False)
    assert records[("p1", 0)].first_attempt_correct is True
    assert records[("p2", 3)].first_attempt_correct is False  # no answer at all
    assert records[("p1", 0)].n_tokens == 5  # word count ("2+2", "=", "4,", "so", box): no token ids from the backend

    r = report.benches["toy"]
    assert (r.n_problems, r.n_samples) == (2, 4)
    assert r.pass_at_1 == pytest.approx((3 / 4 + 1 / 4) / 2)
    # pass@2: p1 1 - C(1,2)/C(4,2) = 1; p2 1 - C(3,2)/C(4,2) = 1/2
    assert r.pass_at_k["2"] == pytest.approx(0.75)
    assert r.pass_at_k["4"] == pytest.approx(1.0)
    # maj@4: p1 votes 4 x3 vs 5 -> right; p2 votes 6 x2 vs 9 vs no answer -> wrong
    assert r.maj_at_k == {"4": 0.5} and r.maj_at_k_abstain == {"4": 0.5}
    # p2's last completion states no answer and was cut at the budget: 1 of 8 each
    assert (r.no_answer_rate, r.truncated_rate) == (1 / 8, 1 / 8)
    assert r.self_check_rate is None  # math has no self-check
    assert report.metrics()["eval/toy_no_answer_rate"] == 1 / 8
    assert r.mean_restarts == pytest.approx(1 / 8)
    assert r.mean_backtracks == 0.0
    # first attempts right: p1 samples 0, 2; p2 sample 0
    assert r.first_attempt_accuracy == pytest.approx(3 / 8)
    assert r.finish_reasons == {"eos": 7, "length": 1}
    assert r.by_subject == {"Algebra": {"n_problems": 1, "pass@1": 0.75}, "Geometry": {"n_problems": 1, "pass@1": 0.25}}
    assert set(r.by_level) == {"1", "3"}
    assert report.model == "fake-model"
    assert report.sampling["temperature"] == 0.6 and report.sampling["top_p"] == 0.95
    assert report.sampling["samples"] == 4
    assert report.metrics()["eval/toy_pass@1"] == pytest.approx(0.5)
    assert EvalReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_backend_token_counts_and_data_hash(tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps(P1.to_dict()) + "\n")
    policy = FakePolicy([P1], TEXTS, token_ids=True)
    report = evaluate(policy, [P1], EvalConfig(samples=1), tmp_path / "out", bench_name="set", data_path=data, model_name="m")
    r = report.benches["set"]
    assert r.mean_tokens == 10  # 5 words x 2 fake token ids
    assert r.data_file == "set.jsonl"
    assert r.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert len(r.problems_sha256) == 64
    assert report.model == "m"
    assert r.pass_at_k == {"1": 1.0}  # pass@4.. skipped with one sample


def test_resume_samples_only_missing_pairs(tmp_path):
    problems = [P1, P2]
    first = FakePolicy(problems, TEXTS)
    evaluate(first, problems, EvalConfig(samples=2), tmp_path, bench_name="toy")
    assert sum(n_prompts * n for n_prompts, n, _ in first.calls) == 4

    # a crash mid-write leaves a torn line: it is dropped and its pair re-sampled
    with open(tmp_path / "completions.jsonl", "a") as fh:
        fh.write('{"problem_id": "p1", "bench": "toy", "sample_')
    second = FakePolicy(problems, {k: list(reversed(v)) for k, v in TEXTS.items()})
    report = evaluate(second, problems, EvalConfig(samples=4), tmp_path, bench_name="toy")
    # the batch is sampled again as an uninterrupted samples=4 run samples it; only pairs 2, 3 are written
    assert [(n_prompts, n) for n_prompts, n, _ in second.calls] == [(2, 4)]
    rows = read_jsonl(tmp_path / "completions.jsonl")
    assert sorted((r["problem_id"], r["sample_idx"]) for r in rows) == [(p, i) for p in ("p1", "p2") for i in range(4)]
    assert report.benches["toy"].n_samples == 4

    third = FakePolicy(problems, TEXTS)
    again = evaluate(third, problems, EvalConfig(samples=4), tmp_path, bench_name="toy")
    assert third.calls == []
    assert again == report

    # another bench in the same folder is sampled separately
    fourth = FakePolicy(problems, TEXTS)
    evaluate(fourth, problems, EvalConfig(samples=1), tmp_path, bench_name="other")
    assert len(fourth.calls) == 1


def test_resume_refuses_other_sampling_settings(tmp_path):
    evaluate(FakePolicy([P1], TEXTS), [P1], EvalConfig(samples=1), tmp_path, bench_name="toy")
    with pytest.raises(ValueError, match="fresh output directory"):
        evaluate(FakePolicy([P1], TEXTS), [P1], EvalConfig(samples=1, temperature=1.0), tmp_path, bench_name="toy")
    with pytest.raises(ValueError, match="fresh output directory"):
        evaluate(FakePolicy([P1], TEXTS), [P1], EvalConfig(samples=1), tmp_path, bench_name="toy", model_name="other")


def test_resume_refuses_completions_rendered_with_another_chat_template(tmp_path):
    from agents.base import PolicyConfig
    from agents.chat import ChatConfig

    def policy(system_prompt):
        fake = FakePolicy([P1], TEXTS)
        fake.config = PolicyConfig(chat=ChatConfig(system_prompt=system_prompt))
        return fake

    evaluate(policy("Be brief."), [P1], EvalConfig(samples=1), tmp_path, bench_name="toy")
    evaluate(policy("Be brief."), [P1], EvalConfig(samples=2), tmp_path, bench_name="toy")  # the same prompts: resumes
    with pytest.raises(ValueError, match="fresh output directory"):
        evaluate(policy("Think step by step."), [P1], EvalConfig(samples=3), tmp_path, bench_name="toy")


def test_sampling_settings_reach_the_policy(tmp_path):
    policy = FakePolicy([P1, P2], TEXTS)
    evaluate(policy, [P1, P2], EvalConfig(samples=3, temperature=0.3, top_p=0.5, max_tokens=77, seed=5, batch_size=1), tmp_path)
    assert [(n_prompts, n) for n_prompts, n, _ in policy.calls] == [(1, 3), (1, 3)]
    sampling = [s for _, _, s in policy.calls]
    assert (sampling[0].temperature, sampling[0].top_p, sampling[0].max_tokens) == (0.3, 0.5, 77)
    assert [s.seed for s in sampling] == [5, 6]


def test_bad_policy_output_and_config_errors(tmp_path):
    class Short(FakePolicy):
        def complete(self, prompts, n, sampling):
            return [row[:-1] for row in super().complete(prompts, n, sampling)]

    with pytest.raises(RuntimeError, match="n completions per prompt"):
        evaluate(Short([P1], TEXTS), [P1], EvalConfig(samples=2), tmp_path)
    with pytest.raises(ValueError, match="duplicate problem ids"):
        evaluate(FakePolicy([P1], TEXTS), [P1, P1], EvalConfig(samples=1), tmp_path)
    with pytest.raises(ValueError, match="samples=0"):
        EvalConfig(samples=0)
    with pytest.raises(ValueError, match="top_p"):
        EvalConfig(top_p=0)


def test_score_completion_uses_the_task_verdict_for_countdown():
    from astro_env.countdown import generate_problems, solve

    problem = generate_problems(1, seed=3)[0]
    numbers, target = problem.metadata["numbers"], problem.metadata["target"]
    expr = solve(numbers, target)
    right = score_completion(problem, Completion(text=f"\\boxed{{{expr}}}"), bench="cd", sample_idx=0)
    wrong = score_completion(problem, Completion(text=f"\\boxed{{{target}}}"), bench="cd", sample_idx=1)
    assert right.correct and right.first_attempt_correct
    assert not wrong.correct  # the target alone does not use the numbers
    assert (right.self_check, wrong.self_check) == (True, False)  # Countdown's prompt-only check
    math_record = score_completion(P1, Completion(text="\\boxed{4}"), bench="toy", sample_idx=0)
    assert math_record.correct and math_record.self_check is None  # math tasks have none


def _record(problem_id, idx, answer, correct, finish="eos"):
    return EvalRecord(problem_id=problem_id, bench="toy", sample_idx=idx, completion="", answer=answer, correct=correct,
                      n_tokens=10, n_backtracks=None, n_restarts=None, first_attempt_correct=None, finish_reason=finish)


def test_summarize_counts_completions_without_an_answer_as_wrong_votes():
    from benchmarks.evaluate import summarize

    # p1: right once, no answer three times (two of them cut at the budget); p2: 9, 9, 6, no answer
    records = [
        _record("p1", 0, "4", True), _record("p1", 1, None, False, "length"),
        _record("p1", 2, None, False, "length"), _record("p1", 3, None, False),
        _record("p2", 0, "9", True), _record("p2", 1, "9", True), _record("p2", 2, "6", False), _record("p2", 3, None, False),
    ]
    r = summarize([P1, P2], records, EvalConfig(samples=4, maj_k=4, pass_ks=(1,)), bench_name="toy")
    # maj@4: p1 "no answer" x3 beats 4 x1 -> 0; p2 9 x2 beats 6 and no answer -> 1
    assert r.maj_at_k == {"4": 0.5}
    # abstaining, p1's single answer wins its vote: the inflation the abstaining name shows
    assert r.maj_at_k_abstain == {"4": 1.0}
    assert (r.no_answer_rate, r.truncated_rate) == (4 / 8, 2 / 8)


# ----------------------------------------------------------------- oracle on the real sets


def _load(name, limit=None):
    from astro_env import loaders
    try:
        path = loaders.benchmark_path(name)
    except FileNotFoundError as exc:
        pytest.skip(f"benchmark data not found ({exc})")
    return loaders.load_problems(str(path), limit=limit), path


def _oracle_report(name, tmp_path, append_answer="if_missing"):
    from agents.oracle import OraclePolicy

    problems, path = _load(name)
    policy = OraclePolicy(problems, append_answer=append_answer)
    report = evaluate(policy, problems, EvalConfig(samples=1), tmp_path, bench_name=name, data_path=path)
    failures = [(r["problem_id"], r["answer"]) for r in read_jsonl(tmp_path / "completions.jsonl") if not r["correct"]]
    return problems, report, failures


def test_oracle_scores_100_on_aime24(tmp_path):
    problems, report, failures = _oracle_report("aime24", tmp_path)
    assert len(problems) == 30
    assert failures == []
    assert report.benches["aime24"].pass_at_1 == 1.0
    assert report.benches["aime24"].data_sha256 is not None


def test_oracle_verbatim_aime24_solutions_fail_only_where_nothing_is_boxed(tmp_path):
    # The multi-solution AoPS texts (several boxes, \textbf{(N)}, leading zeros) are verified
    # as written; only a solution that boxes nothing needs the oracle's appended answer.
    problems, _, failures = _oracle_report("aime24", tmp_path, append_answer="never")
    unboxed = sorted(p.id for p in problems if "\\boxed" not in p.solution and "\\fbox" not in p.solution)
    assert sorted(pid for pid, _ in failures) == unboxed
    assert len(unboxed) <= 1


def test_oracle_scores_100_on_math500(tmp_path):
    start = time.perf_counter()
    problems, report, failures = _oracle_report("math500", tmp_path)
    assert len(problems) == 500
    assert failures == []
    result = report.benches["math500"]
    assert result.pass_at_1 == 1.0
    assert len(result.by_subject) == 7
    assert sum(v["n_problems"] for v in result.by_level.values()) == 500
    assert time.perf_counter() - start < 60, "the verifier got slow: mark this test slow and keep a subset here"


def test_astro_eval_cli_with_the_oracle(tmp_path, capsys):
    from astro.commands.eval import main

    data = tmp_path / "mini.jsonl"
    problems = [P1, P2, Problem(id="p3", problem="Name 5.", answer="5", solution="Five is \\boxed{5}.")]
    data.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    out = tmp_path / "out"
    assert main(["--policy", "oracle", "--bench", str(data), "--samples", "2", "--out", str(out), "--no-progress"]) == 0
    report = EvalReport.from_dict(json.loads((out / "report.json").read_text()))
    assert report.model == "oracle"
    assert report.benches["mini"].pass_at_1 == 1.0
    assert report.benches["mini"].data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert len(read_jsonl(out / "mini" / "completions.jsonl")) == 6  # one folder per evaluation set
    assert "# Evaluation: oracle" in capsys.readouterr().out
    assert (out / "report.md").exists()
    assert main(["--policy", "oracle", "--bench", str(tmp_path / "absent.jsonl"), "--out", str(out)]) == 2


def test_oracle_policy_maps_prompts_and_proposes_reference_steps():
    from agents.oracle import OraclePolicy, oracle_text
    from astro_env.state import initial_state, transition

    p3 = Problem(id="p3", problem="Name 5.", answer="5", solution="Count to five.\n\nSo \\boxed{5}.")
    oracle = OraclePolicy([P1, p3])
    assert oracle_text(P1) == "The final answer is $\\boxed{4}$."  # no solution: the gold answer, boxed
    assert oracle_text(p3) == p3.solution
    assert oracle_text(p3, "always").endswith("The final answer is $\\boxed{5}$.")
    [[c1, c2]] = oracle.complete([prompt_of(p3)], 2)
    assert c1.text == c2.text == p3.solution
    state = initial_state(p3, prompt_of(p3))
    assert [s.text for s in oracle.propose_steps([state], 1)[0]] == ["Count to five."]
    state = transition(state, "Count to five.")
    assert oracle.propose_steps([state], 3)[0][2].text == "So \\boxed{5}."
    with pytest.raises(KeyError, match="build it with the problems"):
        oracle.complete(["Problem: unknown\n\nSolution:\n"], 1)


def test_a_batch_cut_short_by_a_kill_resumes_to_the_uninterrupted_completions(tmp_path):
    import torch
    from agents.base import PolicyConfig
    from agents.hf import TransformersPolicy
    from astro_env.countdown import generate_problems
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    torch.set_num_threads(1)
    problems = generate_problems(5, seed=3)
    texts = [prompt_of(p) + "1+2=3\n\n\\boxed{1+2}" for p in problems]
    tokenizer = build_tokenizer(texts, vocab_size=128)
    model_dir = save_policy(build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_position_embeddings=256), seed=0), tokenizer, tmp_path / "model")
    policy = TransformersPolicy.from_pretrained(str(model_dir), PolicyConfig(model=str(model_dir), device="cpu", dtype="float32"))
    config = EvalConfig(samples=3, temperature=1.0, top_p=1.0, max_tokens=12, batch_size=2, pass_ks=(1,), maj_k=1, seed=11)

    full = evaluate(policy, problems, config, tmp_path / "full", bench_name="cd")
    full_rows = read_jsonl(tmp_path / "full" / "completions.jsonl")
    assert len(full_rows) == 15 and len({r["completion"] for r in full_rows}) > 3  # sampled, not constant

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "eval_config.json").write_bytes((tmp_path / "full" / "eval_config.json").read_bytes())
    lines = (tmp_path / "full" / "completions.jsonl").read_bytes().split(b"\n")
    # 8 records: batch 0 (6 pairs) and 2 pairs of batch 1's first problem; then half a line
    (killed / "completions.jsonl").write_bytes(b"\n".join(lines[:8]) + b"\n" + lines[8][:30])
    resumed = evaluate(policy, problems, config, killed, bench_name="cd")
    key = lambda r: (r["problem_id"], r["sample_idx"])  # noqa: E731
    resumed_rows = read_jsonl(killed / "completions.jsonl")
    assert sorted(map(key, resumed_rows)) == sorted(map(key, full_rows))
    assert sorted(resumed_rows, key=key) == sorted(full_rows, key=key)
    assert resumed == full


def test_resume_with_another_batch_size_is_refused(tmp_path):
    evaluate(FakePolicy([P1], TEXTS), [P1], EvalConfig(samples=1, batch_size=8), tmp_path, bench_name="toy")
    with pytest.raises(ValueError, match="batch_size.*fresh output directory"):
        evaluate(FakePolicy([P1], TEXTS), [P1], EvalConfig(samples=1, batch_size=4), tmp_path, bench_name="toy")


def test_astro_eval_cli_bad_inputs_give_one_line_and_write_nothing(tmp_path, capsys):
    from astro.commands.eval import main

    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps(P1.to_dict()) + "\n")
    wrong_type = tmp_path / "wrong.jsonl"
    wrong_type.write_text('{"id": "c", "problem": "Numbers: 1 2\\nTarget: 3", "answer": "3", "task": "countdown", "numbers": "1 2", "target": 3}\n')
    nan = tmp_path / "nan.jsonl"
    nan.write_text('{"id": "n", "problem": "p", "answer": NaN}\n')
    out = tmp_path / "out"
    cases = [
        (["--policy", str(tmp_path / "no" / "such" / "model"), "--bench", str(data)], "no such directory"),
        (["--policy", "oracle", "--bench", str(wrong_type)], "wrong.jsonl:1: .*Countdown `numbers`"),
        (["--policy", "oracle", "--bench", str(nan)], "nan.jsonl:1: .*not a number"),
        (["--policy", "oracle", "--bench", str(data), "--limit", "-1"], "limit=-1"),
        (["--policy", "oracle", "--bench", str(data), "--top-p", "0"], "top_p=0.0"),
        (["--policy", "oracle", "--bench", str(data), "--temperature", "nan"], "temperature=nan"),
    ]
    capsys.readouterr()
    for argv, match in cases:
        assert main([*argv, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and __import__("re").search(match, err), err
        assert not out.exists()


def test_completions_of_a_changed_problem_are_sampled_again(tmp_path):
    evaluate(FakePolicy([P1, P2], TEXTS), [P1, P2], EvalConfig(samples=2), tmp_path, bench_name="toy")
    rows = read_jsonl(tmp_path / "completions.jsonl")
    assert {r["problem_hash"] for r in rows} == {P1.content_hash, P2.content_hash}
    changed = Problem(id="p2", problem="What is 3*4?", answer="12")  # same id, new content
    texts = {**TEXTS, "p2": ["\\boxed{12}", "\\boxed{7}"]}
    policy = FakePolicy([P1, changed], texts)
    report = evaluate(policy, [P1, changed], EvalConfig(samples=2), tmp_path, bench_name="toy")
    rows = read_jsonl(tmp_path / "completions.jsonl")
    p2_rows = [r for r in rows if r["problem_id"] == "p2"]
    assert len(rows) == 4 and {r["problem_hash"] for r in p2_rows} == {changed.content_hash}
    assert [r["correct"] for r in sorted(p2_rows, key=lambda r: r["sample_idx"])] == [True, False]
    assert report.benches["toy"].n_problems == 2
