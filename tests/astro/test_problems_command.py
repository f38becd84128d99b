"""`astro problems` and --task.n-rl: GRPO's own pool, disjoint from the training and evaluation problems."""

from __future__ import annotations

import json

import pytest

from astro.commands.problems import ProblemsJob, _content_key, make_problems
from astro.config import RunConfig, TaskConfig
from astro.plan import run_stages
from astro_env.errors import UserError
from astro_env.loaders import read_problems, write_problems
from astro_env.problem import Problem
from benchmarks.contamination import run_contamination


def _keys(path):
    return {_content_key(p) for p in read_problems(path)}


def test_an_rl_pool_is_disjoint_from_train_and_test_and_leaves_both_as_they_were(tmp_path):
    task = TaskConfig(n_train=40, n_test=30)
    plain = make_problems(ProblemsJob(task=task, seed=3, out=str(tmp_path / "plain")))
    with_rl = make_problems(ProblemsJob(task=TaskConfig(n_train=40, n_test=30, n_rl=25), seed=3, out=str(tmp_path / "rl")))
    assert not (plain / "rl.jsonl").exists()
    assert (with_rl / "train.jsonl").read_bytes() == (plain / "train.jsonl").read_bytes()
    assert (with_rl / "eval" / "test.jsonl").read_bytes() == (plain / "eval" / "test.jsonl").read_bytes()
    rl = _keys(with_rl / "rl.jsonl")
    assert len(rl) == 25 and not rl & _keys(with_rl / "train.jsonl") and not rl & _keys(with_rl / "eval" / "test.jsonl")
    assert json.loads((with_rl / "summary.json").read_text())["n_rl"] == 25


def test_a_rerun_without_an_rl_pool_leaves_no_stale_rl_file(tmp_path):
    out = tmp_path / "p"
    make_problems(ProblemsJob(task=TaskConfig(n_train=10, n_test=10, n_rl=5), out=str(out)))
    make_problems(ProblemsJob(task=TaskConfig(n_train=10, n_test=10), out=str(out)))
    assert not (out / "rl.jsonl").exists()


def test_an_rl_pool_from_a_file_takes_the_problems_after_the_training_ones(tmp_path):
    pool = [Problem(id=f"p{i}", problem=f"Numbers: {i} 1 1\nTarget: {i + 2}", answer="x", task="countdown") for i in range(12)]
    write_problems(pool, tmp_path / "pool.jsonl")
    out = make_problems(ProblemsJob(task=TaskConfig(train_problems=str(tmp_path / "pool.jsonl"), n_train=5, n_rl=4),
                                    out=str(tmp_path / "p")))
    assert [p.id for p in read_problems(out / "train.jsonl")] == ["p0", "p1", "p2", "p3", "p4"]
    assert [p.id for p in read_problems(out / "rl.jsonl")] == ["p5", "p6", "p7", "p8"]
    with pytest.raises(UserError, match="8 problems left after the 4 training ones for --task.n-rl 9"):
        make_problems(ProblemsJob(task=TaskConfig(train_problems=str(tmp_path / "pool.jsonl"), n_train=4, n_rl=9),
                                  out=str(tmp_path / "q")))


def test_grpo_trains_on_the_rl_pool_and_the_report_audits_that_pool(tmp_path):
    run_dir = tmp_path / "run"
    grpo_files = {s.config.problems for s in run_stages(RunConfig(task=TaskConfig(n_rl=50)), run_dir) if s.command == "grpo"}
    assert grpo_files == {str(run_dir / "problems" / "rl.jsonl")}
    default = {s.config.problems for s in run_stages(RunConfig(), run_dir) if s.command == "grpo"}
    assert default == {str(run_dir / "problems" / "train.jsonl")}

    out = make_problems(ProblemsJob(task=TaskConfig(n_train=10, n_test=10, n_rl=5), out=str(run_dir / "problems")))
    leaked = read_problems(out / "eval" / "test.jsonl")[:2]
    write_problems(read_problems(out / "rl.jsonl") + leaked, out / "rl.jsonl")
    assert run_contamination(run_dir, ["test"])["overlap"]["RL pool"] == {"test": 2}


@pytest.mark.parametrize("n_rl", [-1, 1.5, True])
def test_a_bad_rl_pool_size_is_one_line(n_rl):
    with pytest.raises(UserError, match="task.n_rl="):
        TaskConfig(n_rl=n_rl)
