"""`search_trees` and `astro search`: resumable after kill -9, sharded, config-checked."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents.countdown_policy import CountdownPolicy
from agents.scripted import ScriptedPolicy
from astro_env.countdown import generate_problems
from astro_env.jsonl import read_jsonl
from astro_env.problem import Problem
from search.mcts import MCTSConfig
from search.run import SearchConfig, config_path, search_trees, shard_problems
from search.tree import SearchTree

REPO = Path(__file__).resolve().parents[2]
SCRIPT = {(): ["a", "b"], ("a",): ["\\boxed{5}"], ("b",): ["\\boxed{4}"]}
SMALL = SearchConfig(agent_config=MCTSConfig(n_iterations=6, n_children=4, n_rollouts=2), batch_problems=3)


def toy_problems(n):
    return [Problem(id=f"toy/{i}", problem=f"Toy {i}: 2+2?", answer="4") for i in range(n)]


def test_sharding_covers_every_problem_once(tmp_path):
    problems = generate_problems(10, seed=0)
    ids = []
    for i in range(3):
        mine = shard_problems(problems, (i, 3))
        assert [p.id for p in mine] == [p.id for k, p in enumerate(problems) if k % 3 == i]
        trees = search_trees(problems, CountdownPolicy(), SMALL, out_path=tmp_path / f"s{i}.jsonl", shard=(i, 3), progress=False)
        ids += [t.problem.id for t in trees]
        assert [r["problem"]["id"] for r in read_jsonl(tmp_path / f"s{i}.jsonl")] == [t.problem.id for t in trees]
    assert sorted(ids) == sorted(p.id for p in problems)
    with pytest.raises(ValueError, match="shard"):
        shard_problems(problems, (3, 3))


def test_resume_skips_written_trees_and_drops_a_torn_line(tmp_path):
    problems = toy_problems(7)
    full = search_trees(problems, ScriptedPolicy(SCRIPT), SMALL, out_path=tmp_path / "full.jsonl", progress=False)
    out = tmp_path / "trees.jsonl"
    search_trees(problems[:4], ScriptedPolicy(SCRIPT), SMALL, out_path=out, progress=False)
    with out.open("a") as fh:  # a crash in the middle of writing the next tree
        fh.write(json.dumps(full[5].to_dict())[:50])
    policy = ScriptedPolicy(SCRIPT)
    resumed = search_trees(problems, policy, SMALL, out_path=out, progress=False)
    records = read_jsonl(out)
    assert [r["problem"]["id"] for r in records] == [p.id for p in problems]
    assert resumed == full
    assert [SearchTree.from_dict(r) for r in records] == full
    # a finished file: nothing to search
    calls = dict(policy.n_calls)
    assert search_trees(problems, policy, SMALL, out_path=out, progress=False) == full
    assert policy.n_calls == calls


def test_a_different_config_on_the_same_file_is_refused(tmp_path):
    out = tmp_path / "trees.jsonl"
    search_trees(toy_problems(2), ScriptedPolicy(SCRIPT), SMALL, out_path=out, progress=False)
    assert json.loads(config_path(out).read_text())["search"]["agent_config"]["n_iterations"] == 6
    other = SearchConfig(agent_config=MCTSConfig(n_iterations=7))
    with pytest.raises(ValueError, match="different search config"):
        search_trees(toy_problems(2), ScriptedPolicy(SCRIPT), other, out_path=out, progress=False)


def _cli(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "astro.cli", "search",
        "--task", "countdown", "--n-problems", "30", "--task-config.n-numbers", "4", "--problem-seed", "5",
        "--policy.backend", "countdown", "--out", str(out),
        "--search.agent-config.n-iterations", "12", "--search.agent-config.n-children", "8",
        "--search.agent-config.n-rollouts", "4", "--search.batch-problems", "2", "--no-progress",
    ]  # fmt: skip


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_resume_after_kill_9_equals_an_uninterrupted_run(tmp_path):
    killed_out, clean_out = tmp_path / "killed.jsonl", tmp_path / "clean.jsonl"
    proc = subprocess.Popen(_cli(killed_out), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if killed_out.exists() and killed_out.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_jsonl(killed_out))
    assert 3 <= n_before < 30
    subprocess.run(_cli(killed_out), cwd=REPO, env=_env(), check=True, capture_output=True)
    subprocess.run(_cli(clean_out), cwd=REPO, env=_env(), check=True, capture_output=True)
    killed = [SearchTree.from_dict(r) for r in read_jsonl(killed_out)]
    clean = [SearchTree.from_dict(r) for r in read_jsonl(clean_out)]
    assert len(killed) == 30 and len({t.problem.id for t in killed}) == 30
    by_id = {t.problem.id: t for t in killed}
    assert [by_id[t.problem.id] for t in clean] == clean
    assert sum(1 for t in clean if t.correct_terminals()) > 0


def test_cli_summary_line(tmp_path, capsys):
    from astro.cli import main

    out = tmp_path / "trees.jsonl"
    args = ["search", "--problems", "countdown:4:0", "--policy.backend", "countdown", "--out", str(out), "--no-progress"]
    assert main(args + ["--agent", "best_of_n", "--search.agent-config.n-iterations", "4"]) == 2  # not a best-of-N option
    assert "--search.agent-config.n-iterations" in capsys.readouterr().err
    assert not out.exists()
    assert main(args + ["--agent", "best_of_n", "--search.agent-config.n-samples", "4"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n_trees"] == 4
    records = read_jsonl(out)
    assert len(records) == 4 and {r["agent"] for r in records} == {"best_of_n"}
    assert main(args + ["--agent", "beam"]) == 2  # a different config on the same file
    assert "different search config" in capsys.readouterr().err
    assert main(args + ["--shard", "2/2"]) == 2
    assert "--shard '2/2'" in capsys.readouterr().err


def test_trees_carry_the_problem_hash_and_it_follows_the_content():
    base = Problem(id="countdown/0/0", problem="Numbers: 1 2 3\nTarget: 6", answer="6", task="countdown", metadata={"numbers": [1, 2, 3], "target": 6})
    same = Problem.from_dict(base.to_dict())
    assert same.content_hash == base.content_hash
    variants = [
        Problem(id=base.id, problem=base.problem, answer=base.answer, task="countdown", metadata={"numbers": [1, 2, 4], "target": 6}),
        Problem(id=base.id, problem=base.problem, answer=base.answer, task="countdown", metadata={"numbers": [1, 2, 3], "target": 7}),
        Problem(id=base.id, problem=base.problem + " ", answer=base.answer, task="countdown", metadata=dict(base.metadata)),
        Problem(id=base.id, problem=base.problem, answer="7", task="countdown", metadata=dict(base.metadata)),
        Problem(id=base.id, problem=base.problem, answer=base.answer, task="math", metadata=dict(base.metadata)),
    ]
    assert len({base.content_hash, *(v.content_hash for v in variants)}) == 6
    tree = search_trees([base], CountdownPolicy(), SMALL, progress=False)[0]
    assert tree.to_dict()["problem_hash"] == base.content_hash


def test_a_regenerated_problem_file_never_returns_old_trees(tmp_path):
    from astro_env.countdown import CountdownConfig

    out = tmp_path / "trees.jsonl"
    three = generate_problems(6, seed=0, config=CountdownConfig(n_numbers=3))
    four = generate_problems(6, seed=0, config=CountdownConfig(n_numbers=4))
    assert [p.id for p in three] == [p.id for p in four]  # same ids, different problems
    search_trees(three, CountdownPolicy(), SMALL, out_path=out, progress=False)
    fresh = search_trees(four, CountdownPolicy(), SMALL, out_path=tmp_path / "fresh.jsonl", progress=False)
    policy = CountdownPolicy()
    reused = search_trees(four, policy, SMALL, out_path=out, progress=False)
    assert [t.problem.metadata["numbers"] for t in reused] == [p.metadata["numbers"] for p in four]
    assert reused == fresh
    records = read_jsonl(out)
    assert [r["problem_hash"] for r in records] == [p.content_hash for p in four]  # the stale trees are gone
    # half old, half new: only the changed problems are searched again
    mixed = three[:3] + four[3:]
    again = search_trees(mixed, CountdownPolicy(), SMALL, out_path=out, progress=False)
    assert [t.problem_hash for t in again] == [p.content_hash for p in mixed]
    assert sorted(r["problem_hash"] for r in read_jsonl(out)) == sorted(p.content_hash for p in mixed)


def test_cli_bad_inputs_give_one_line_and_write_nothing(tmp_path, capsys):
    from astro.cli import main

    out = tmp_path / "trees.jsonl"
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\xff\xfe\x00garbage\n")
    cases = [
        (["--task", "countdown", "--n-problems", "5", "--limit", "-1", "--policy.backend", "countdown"], "--limit -1: use >= 1"),
        (["--problems", str(junk), "--policy.backend", "countdown"], "junk.jsonl:1: not UTF-8"),
        (["--problems", str(tmp_path / "absent.jsonl"), "--policy.backend", "countdown"], "does not exist"),
        (["--problems", "countdown:2", "--policy", str(tmp_path / "no" / "model")], "no such directory"),
        (["--problems", "countdown:2", "--policy.backend", "countdown", "--search.agent", "dfs"], "unknown search agent 'dfs'"),
        (["--problems", "countdown:2", "--policy.backend", "countdown", "--search.agent-config.n-iterations", "0"], "n_iterations=0"),
        (["--problems", "countdown:2", "--policy.backend", "countdown", "--search.agent-config.n-iteratons", "4"],
         "did you mean --search.agent-config.n-iterations"),
        (["--problems", "countdown:2", "--task", "countdown", "--policy.backend", "countdown"], "exactly one of --problems"),
    ]
    capsys.readouterr()
    for argv, match in cases:
        assert main(["search", *argv, "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and match in err, err
        assert not out.exists()
