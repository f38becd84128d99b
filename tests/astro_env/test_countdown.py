"""Countdown: grammar, restricted parser, solver, generator, task verdicts."""

from __future__ import annotations

import os
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astro_env.countdown import (
    CountdownConfig,
    CountdownTask,
    apply_step,
    boxed_step,
    check_answer,
    extract_boxed,
    generate_problem,
    generate_problems,
    initial_pool,
    legal_steps,
    parse_expression,
    pool_from_text,
    solve,
    solve_steps,
    strip_outer_parens,
)
from astro_env.problem import Problem
from astro_env.task import Task

P357 = Problem(id="countdown/t/0", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown", metadata={"numbers": [3, 5, 7], "target": 26})


def test_initial_pool_and_example_steps_from_the_convention():
    pool = initial_pool(P357)
    assert pool == (("3", Fraction(3)), ("5", Fraction(5)), ("7", Fraction(7)))
    assert apply_step(pool, "7*5=35; left: 5 35") is None  # a wrong pool listing is illegal
    assert apply_step(pool, "7*5=35; left: 3 35") == apply_step(pool, "7*5=35")  # the listing is optional
    pool = apply_step(pool, "7*5=35")
    assert pool == (("3", Fraction(3)), ("(7*5)", Fraction(35)))
    pool = apply_step(pool, "35-3=32")  # a step names values, not sub-expressions
    assert pool == (("((7*5)-3)", Fraction(32)),)
    assert legal_steps(pool) == ["\\boxed{(7*5)-3}"]
    assert apply_step(pool, "\\boxed{(7*5)-3}") == ()
    assert legal_steps(()) == []


def test_commutative_steps_are_one_step_written_larger_first():
    pool = initial_pool([3, 5, 7])
    steps = legal_steps(pool)
    assert "7*3=21; left: 5 21" in steps and not any(s.startswith("3*7") for s in steps)
    # the other order is still legal when a model writes it, and leaves the same values
    assert [v for _, v in apply_step(pool, "3*7=21; left: 5 21")] == [v for _, v in apply_step(pool, "7*3=21")]
    assert len(steps) == len(set(steps))


def test_equal_values_are_matched_by_the_listing():
    # removing either 2 leaves different orders: the listing picks the pair that fits
    pool = initial_pool([2, 9, 2])
    assert [v for _, v in apply_step(pool, "9+2=11; left: 2 11")] == [2, 11]
    assert apply_step(pool, "9+2=11; left: 11 2") is None
    assert len(legal_steps(pool)) == len(set(legal_steps(pool)))


def test_legal_steps_counts_by_hand():
    # 2 and 4: + and * once (larger first); 4-2 and 4/2 (2-4 negative, 2/4 inexact) -> 4 steps
    steps = legal_steps(initial_pool([2, 4]))
    assert steps == ["4+2=6; left: 6", "4-2=2; left: 2", "4*2=8; left: 8", "4/2=2; left: 2"]
    # 0 as divisor is never legal, 0/x is
    assert not any(s.startswith("3/0=") for s in legal_steps(initial_pool([3, 0])))
    assert "0/3=0; left: 0" in legal_steps(initial_pool([3, 0]))


def test_apply_step_rejects_illegal_steps():
    pool = initial_pool([3, 5, 7])
    assert apply_step(pool, "3-5=-2") is None  # negative subtraction
    assert apply_step(pool, "7/3=7/3") is None  # inexact division
    assert apply_step(pool, "5*7=36") is None  # wrong value
    assert apply_step(pool, "5*8=40") is None  # 8 is not in the pool
    assert apply_step(pool, "5 * 7 = 35") == apply_step(pool, "5*7=35")  # spaces are ignored
    assert apply_step(pool, "hello") is None
    assert apply_step(pool, "\\boxed{3+") is None
    assert apply_step((), "3+5=8") is None


def test_every_legal_step_applies_and_shrinks_the_pool():
    pool = initial_pool([2, 3, 6, 6])
    for step in legal_steps(pool):
        nxt = apply_step(pool, step)
        assert nxt is not None and len(nxt) == len(pool) - 1


def test_pool_from_text_accepts_text_or_sequence():
    text = "5*7=35\n\n(5*7)-3=32\n\n"
    assert pool_from_text(P357, text) == pool_from_text(P357, ["5*7=35", "(5*7)-3=32"])
    assert pool_from_text(P357, ["5*7=35", "bogus"]) is None
    assert pool_from_text(P357, ["5*7=35", "(5*7)-3=32", "\\boxed{(5*7)-3}", "3+3=6"]) is None


@pytest.mark.parametrize(
    "text, value, numbers",
    [
        ("(5*7)-3", Fraction(32), (5, 7, 3)),
        ("5 \\times 7 - 3", Fraction(32), (5, 7, 3)),
        ("12÷4", Fraction(3), (12, 4)),
        ("7/2", Fraction(7, 2), (7, 2)),
        ("1+2*3", Fraction(7), (1, 2, 3)),  # precedence
        ("8-2-1", Fraction(5), (8, 2, 1)),  # left associative
    ],
)
def test_parse_expression_values(text, value, numbers):
    assert parse_expression(text) == (value, numbers)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-3+5",  # no unary minus
        "3/0",
        "(3+5",
        "3+5)",
        "2**3",
        "3.5",
        "__import__('os').system('touch pwned')",
        "1" * 13,  # literal too long
        "(" * 70 + "1" + ")" * 70,  # nesting too deep
        "1+" * 200 + "1",  # too long
    ],
)
def test_parse_expression_rejects(text):
    assert parse_expression(text) is None


def test_parser_never_evaluates_python(tmp_path):
    target = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(target)!r}).touch()"
    task = CountdownTask()
    assert task.reward(P357, "\\boxed{" + payload + "}") == 0.0
    assert task.is_equivalent(payload, "26") is False
    assert not target.exists()


def test_strip_outer_parens_only_when_one_pair_encloses_all():
    assert strip_outer_parens("(3+4)") == "3+4"
    assert strip_outer_parens("(3+4)*(5+6)") == "(3+4)*(5+6)"
    assert strip_outer_parens("7") == "7"
    assert boxed_step("((5*7)-3)") == "\\boxed{(5*7)-3}"


def test_extract_boxed_balanced():
    assert extract_boxed("a \\boxed{1} b \\boxed{{2}+3}") == ["1", "{2}+3"]
    assert extract_boxed("\\boxed{1") == []


def test_solver_hand_cases():
    assert solve([3, 5, 7], 26) is not None
    assert check_answer([3, 5, 7], 26, solve([3, 5, 7], 26))
    assert solve([1, 1], 5) is None  # 1+1, 1*1, 1-1, 1/1: never 5
    assert solve([4], 4) == "4" and solve([4], 5) is None
    steps = solve_steps([2, 3, 4], 24)  # 2*3*4
    assert steps is not None and steps[-1].startswith("\\boxed{")
    assert pool_from_text(Problem(id="x", problem="Numbers: 2 3 4\nTarget: 24", answer="24", task="countdown"), steps) == ()


def test_generator_is_deterministic_and_solvable():
    a, b = generate_problems(50, seed=7), generate_problems(50, seed=7)
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
    assert [p.problem for p in generate_problems(50, seed=8)] != [p.problem for p in a]
    assert generate_problem(7, 13) == a[13]  # each index independent of the others
    task = CountdownTask()
    for idx, p in enumerate(a):
        numbers, target = p.metadata["numbers"], p.metadata["target"]
        assert p.id == f"countdown/7/{idx}" and p.task == "countdown" and p.answer == str(target)
        assert p.problem == "Numbers: " + " ".join(map(str, numbers)) + f"\nTarget: {target}"
        assert len(numbers) == 3 and all(1 <= x <= 12 for x in numbers) and numbers == sorted(numbers)
        assert 1 <= target <= 100
        assert solve(numbers, target) is not None  # solvable, checked by brute force
        assert task.reward(p, p.solution) == 1.0  # the generating solution is a legal, correct playout
        assert pool_from_text(p, p.solution) == ()


@pytest.mark.parametrize("config", [CountdownConfig(n_numbers=2, max_number=5, max_target=20), CountdownConfig(n_numbers=5, max_number=25, min_target=10, max_target=500)])
def test_generator_knobs(config):
    for p in generate_problems(10, seed=1, config=config):
        numbers, target = p.metadata["numbers"], p.metadata["target"]
        assert len(numbers) == config.n_numbers
        assert all(config.min_number <= x <= config.max_number for x in numbers)
        assert config.min_target <= target <= config.max_target
        assert CountdownTask().reward(p, p.solution) == 1.0


def test_config_validation_names_the_fix():
    with pytest.raises(ValueError, match="n_numbers"):
        CountdownConfig(n_numbers=0)
    with pytest.raises(ValueError, match="target range"):
        CountdownConfig(min_target=10, max_target=5)
    with pytest.raises(RuntimeError, match="widen the target range"):
        generate_problem(0, 0, CountdownConfig(n_numbers=2, min_number=1, max_number=1, min_target=50, max_target=60, max_tries=20))


def test_task_protocol_and_verdicts():
    task = CountdownTask()
    assert isinstance(task, Task) and task.name == "countdown"
    assert task.format_prompt(P357) == "Numbers: 3 5 7\nTarget: 26\n\n"
    assert task.extract_answer("3*7=21\n\n\\boxed{(3*7)+5}") == "(3*7)+5"
    assert task.extract_answer("3*7=21") is None
    assert task.is_correct(P357, "(3*7)+5")
    assert task.is_correct(P357, "5 + 3 \\times 7")
    assert not task.is_correct(P357, "3*7+5+0")  # 0 is not one of the numbers
    assert not task.is_correct(P357, "21+5")  # uses 21, not 3 and 7
    assert not task.is_correct(P357, "(3*7)+5+5-5")  # 5 used thrice
    assert not task.is_correct(P357, "3*5+7")  # 22
    assert not task.is_correct(P357, None)
    assert task.is_equivalent("3*7+5", "26") and task.is_equivalent("(3*7)+5", "2*13")
    assert not task.is_equivalent("3*7", "26")
    assert task.is_equivalent("x y", "xy")  # unparsable: normalised string equality


def test_reward_closes_hedging():
    task = CountdownTask()
    assert task.reward(P357, "\\boxed{(3*7)+5}") == 1.0
    assert task.reward(P357, "\\boxed{3*5+7}\n\n\\boxed{(3*7)+5}") == 0.0  # conflicting boxes
    assert task.reward(P357, "\\boxed{5+3*7}\n\n\\boxed{(3*7)+5}") == 1.0  # same answer twice
    assert task.reward(P357, "the answer is 26") == 0.0
    assert task.reward(P357, "\\boxed{}") == 0.0
    assert task.reward(P357, None) == 0.0  # type: ignore[arg-type]


def test_problem_without_metadata_uses_its_text():
    bare = Problem(id="b", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    roundtrip = Problem.from_dict(P357.to_dict())
    task = CountdownTask()
    assert task.is_correct(bare, "(3*7)+5") and task.is_correct(roundtrip, "(3*7)+5")
    assert not task.is_correct(Problem(id="m", problem="What is 2+2?", answer="4"), "2+2")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=2, max_size=4), st.integers(0, 2**32))
def test_random_legal_playouts_are_verified_by_their_value(numbers, seed):
    import random

    rng = random.Random(seed)
    problem_stub = Problem(id="p", problem="Numbers: " + " ".join(map(str, numbers)) + "\nTarget: 1", answer="1", task="countdown")
    pool, steps = initial_pool(problem_stub), []
    while pool:
        step = rng.choice(legal_steps(pool))
        steps.append(step)
        pool = apply_step(pool, step)
        assert pool is not None
    value, used = parse_expression(extract_boxed(steps[-1])[0])
    assert sorted(used) == sorted(numbers)
    assert check_answer(numbers, int(value), extract_boxed(steps[-1])[0]) == (value.denominator == 1)
    assert pool_from_text(problem_stub, "\n\n".join(steps)) == ()


@pytest.mark.slow
def test_generator_many_problems_all_solvable():
    n = 200 if os.environ.get("ASTRO_SLOW_SCALE") == "ci" else 2000
    for p in generate_problems(n, seed=3, config=CountdownConfig(n_numbers=4)):
        assert solve(p.metadata["numbers"], p.metadata["target"]) is not None
