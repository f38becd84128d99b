"""`astro bench grpo`: the shared workload's reward and a one-step run printing one JSON line."""

from __future__ import annotations

import json

import pytest

from benchmarks.bench_grpo import arithmetic_examples, arithmetic_reward, main


@pytest.mark.parametrize(
    "completion,answer,expected",
    [
        (" 68", 68, 1.0),  # leading space, exact integer
        ("68\nQ: 2*2=? A: 4", 68, 1.0),  # only the first integer counts
        (" 680", 68, 0.0),  # a longer number is not the answer
        (" 6", 68, 0.0),
        (" -68", 68, 0.0),
        ("x 68", 68, 0.0),  # the answer must come first
        ("", 68, 0.0),
    ],
)
def test_arithmetic_reward_is_exact(completion, answer, expected):
    assert arithmetic_reward(completion, answer) == expected


def test_examples_are_seeded_products():
    examples = arithmetic_examples(5, seed=3)
    assert examples == arithmetic_examples(5, seed=3)
    for prompt, answer in examples:
        a, b = prompt[len("Q: "):-len("=? A:")].split("*")
        assert int(a) * int(b) == answer


def test_one_step_prints_one_json_line(capsys):
    assert main(["--steps", "1", "--json", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["steps"] == 1 and result["group_size"] == 8
    assert result["gen_tokens_per_s_end_to_end"] > 0 and result["sec_per_step"] > 0
    assert 8 <= result["gen_tokens_per_step"] <= 8 * 64
