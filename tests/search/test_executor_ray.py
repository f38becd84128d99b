"""The Ray executor against a real local cluster: same records as a local run, lost workers and drivers."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor tests need ray (pip install 'astro-gym[ray]')")

from agents.countdown_policy import CountdownPolicy  # noqa: E402
from astro_env.countdown import generate_problems  # noqa: E402
from astro_env.jsonl import read_jsonl  # noqa: E402
from search.executor import ExecutorConfig, ShardsFailed, make_shards, map_shards  # noqa: E402
from search.mcts import MCTSConfig  # noqa: E402
from search.run import SearchConfig, search_trees  # noqa: E402
from tests.search._slow_policies import FailingCountdownPolicy, SlowCountdownPolicy, broken_engine  # noqa: E402

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
MCTS = MCTSConfig(n_iterations=4, n_children=3, n_rollouts=2)
RAY = ExecutorConfig(kind="ray", n_workers=2, max_attempts=3)


def config(executor=ExecutorConfig(), batch_problems=2):
    return SearchConfig(agent_config=MCTS, batch_problems=batch_problems, executor=executor)


def records_by_id(path):
    """problem id -> tree record without its wall-clock stat; fails on a duplicate id."""
    out = {}
    for record in read_jsonl(path):
        record["stats"].pop("seconds", None)
        assert record["problem"]["id"] not in out, f"duplicate tree {record['problem']['id']}"
        out[record["problem"]["id"]] = record
    return out


@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("local") / "trees.jsonl"
    search_trees(generate_problems(12, seed=0), CountdownPolicy(), config(), out_path=path, progress=False)
    return records_by_id(path)


def test_sharded_search_equals_the_local_search(tmp_path, local_reference):
    out = tmp_path / "trees.jsonl"
    trees = search_trees(generate_problems(12, seed=0), CountdownPolicy(), config(RAY), out_path=out, progress=False)
    assert records_by_id(out) == local_reference
    assert [t.problem.id for t in trees] == [p.id for p in generate_problems(12, seed=0)]


def test_a_worker_killed_mid_shard_loses_and_duplicates_nothing(tmp_path, local_reference, caplog):
    marks = tmp_path / "pids"
    marks.mkdir()
    killed = []

    def kill_first_worker():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            pids = [int(p.name) for p in marks.iterdir()]
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    out = tmp_path / "trees.jsonl"
    with caplog.at_level(logging.INFO, logger="search.executor"):
        search_trees(generate_problems(12, seed=0), SlowCountdownPolicy(str(marks), 0.05), config(RAY), out_path=out, progress=False)
    killer.join()
    assert killed and killed[0] != os.getpid()
    assert "lost its worker" in caplog.text
    assert records_by_id(out) == local_reference


def test_a_shard_that_keeps_failing_is_reported_with_its_problem_ids(tmp_path, local_reference):
    problems = generate_problems(12, seed=0)
    bad = problems[5].id
    out = tmp_path / "trees.jsonl"
    with pytest.raises(ShardsFailed) as info:
        search_trees(problems, FailingCountdownPolicy(bad), config(ExecutorConfig(kind="ray", n_workers=2, max_attempts=2)), out_path=out, progress=False)
    assert info.value.problem_ids == [problems[4].id, bad]  # the whole batch of two
    assert "this problem breaks the policy" in str(info.value)
    written = records_by_id(out)
    assert written == {k: v for k, v in local_reference.items() if k not in info.value.problem_ids}


def test_workers_that_cannot_build_their_engine_fail_every_shard_instead_of_hanging():
    shards = make_shards([f"p/{i}" for i in range(6)], 1, str)
    results = []
    with pytest.raises(ShardsFailed) as info:
        map_shards(shards, len, None, ExecutorConfig(kind="ray", n_workers=2, max_attempts=2), lambda s, r: results.append(r), factory=broken_engine)
    assert sorted(info.value.problem_ids) == [f"p/{i}" for i in range(6)]
    assert "no engine here" in str(info.value) and results == []


DRIVER = """
import sys
from astro_env.countdown import generate_problems
from search.executor import ExecutorConfig
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees
from tests.search._slow_policies import SlowCountdownPolicy

out, marks, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
config = SearchConfig(agent_config=MCTSConfig(n_iterations=4, n_children=3, n_rollouts=2), batch_problems=2,
                      executor=ExecutorConfig(kind="ray", n_workers=2))
search_trees(generate_problems(12, seed=0), SlowCountdownPolicy(marks, delay), config, out_path=out, progress=False)
"""


def test_a_killed_driver_resumes_from_what_was_written(tmp_path, local_reference):
    out, marks = tmp_path / "trees.jsonl", tmp_path / "pids"
    marks.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(out), str(marks), "0.3"], cwd=REPO, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (out.exists() and out.read_text().count("\n") >= 2) and time.monotonic() < deadline:
            assert driver.poll() is None, "the driver ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    n_before = len(read_jsonl(out))
    assert 2 <= n_before < 12
    resumed = subprocess.run([sys.executable, "-c", DRIVER, str(out), str(marks), "0"], cwd=REPO, env=env, timeout=300)
    assert resumed.returncode == 0
    assert records_by_id(out) == local_reference
    assert len(read_jsonl(out)) == 12


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "astro.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_astro_search_with_the_ray_executor_starts_its_own_cluster(tmp_path):
    common = ["search", "--problems", "countdown:12", "--policy.backend", "countdown", "--search.agent-config.n-iterations", "4",
              "--search.agent-config.n-children", "3", "--search.agent-config.n-rollouts", "2", "--search.batch-problems", "2",
              "--no-progress"]
    local = run_cli(*common, "--out", str(tmp_path / "local.jsonl"))
    sharded = run_cli(*common, "--out", str(tmp_path / "ray.jsonl"), "--executor", "ray", "--search.executor.n-workers", "2")
    assert local.returncode == 0 and sharded.returncode == 0, sharded.stderr[-2000:]
    assert "Started a local Ray instance" in sharded.stderr
    assert "executor: 6 shards (12 problems) on 2 Ray workers" in sharded.stderr
    assert sharded.stderr.count("finished") >= 1
    assert json.loads(sharded.stdout.splitlines()[-1])["n_trees"] == 12
    assert records_by_id(tmp_path / "ray.jsonl") == records_by_id(tmp_path / "local.jsonl")


def test_astro_eval_with_the_ray_executor_matches_the_local_run(tmp_path):
    common = ["eval", "--policy", "oracle", "--bench", "countdown:10:0", "--samples", "2", "--eval.batch-size", "3", "--no-progress"]
    local = run_cli(*common, "--out", str(tmp_path / "local"))
    sharded = run_cli(*common, "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert local.returncode == 0 and sharded.returncode == 0, sharded.stderr[-2000:]
    assert "executor: 4 shards (10 problems) on 2 Ray workers" in sharded.stderr

    def completions(folder):
        return sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(folder / "countdown-10-0" / "completions.jsonl"))

    assert len(completions(tmp_path / "ray")) == 20
    assert completions(tmp_path / "ray") == completions(tmp_path / "local")
    assert json.loads((tmp_path / "ray" / "report.json").read_text())["benches"] == json.loads((tmp_path / "local" / "report.json").read_text())["benches"]
