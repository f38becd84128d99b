"""The executor seam without Ray: shards, the local executor, engine factories, config checks."""

import pytest

from agents import PolicyConfig, build_policy
from agents.countdown_policy import CountdownPolicy
from astro_env.countdown import generate_problems
from astro_env.problem import Problem
from search.curation import SelfEvalConfig, judge_shard, self_evaluate
from search.executor import (
    ExecutorConfig,
    RemotePolicy,
    Shard,
    ShardsFailed,
    engine_factory,
    make_shards,
    map_shards,
    policy_for,
    pool_size,
)
from search.mcts import MCTSConfig
from search.run import SearchConfig, search_trees


def test_shards_are_consecutive_and_keep_their_positions_when_some_are_skipped():
    items = list("abcdefg")
    shards = make_shards(items, 3, str.upper, skip=lambda part: part[0] == "d")
    assert [(s.index, s.start, s.items, s.ids) for s in shards] == [
        (0, 0, ("a", "b", "c"), ("A", "B", "C")),
        (2, 6, ("g",), ("G",)),
    ]
    with pytest.raises(ValueError, match="shard size"):
        make_shards(items, 0, str)


def test_local_executor_runs_shards_in_order_with_the_callers_policy():
    policy = object()
    seen = []
    run = map_shards(
        make_shards(list(range(5)), 2, str),
        lambda engine, shard: (engine is policy, sum(shard.items)),
        policy,
        ExecutorConfig(),
        lambda shard, result: seen.append((shard.index, result)),
    )
    assert seen == [(0, (True, 1)), (1, (True, 5)), (2, (True, 4))]
    assert (run.n_shards, run.n_items, sum(run.per_worker.values()), run.n_retries) == (3, 5, 5, 0)


def test_local_executor_propagates_the_first_exception():
    calls = []

    def work(engine, shard):
        calls.append(shard.index)
        raise KeyError(shard.ids[0])

    with pytest.raises(KeyError, match="first"):
        map_shards(make_shards(["first", "second"], 1, str), work, None, ExecutorConfig(), lambda s, r: None)
    assert calls == [0]


def test_engine_factory_rebuilds_model_policies_and_ships_the_rest():
    config = PolicyConfig(backend="transformers", model="some/dir")
    factory = engine_factory(RemotePolicy(config))
    assert factory.func is build_policy and factory.args == (config,)
    symbolic = CountdownPolicy(seed=3)
    assert engine_factory(symbolic)() is symbolic


def test_remote_policy_is_named_like_the_backend_and_built_by_the_local_executor():
    remote = RemotePolicy(PolicyConfig(backend="countdown", model="unused", seed=5))
    assert remote.name == "countdown:unused"
    with pytest.raises(RuntimeError, match="only inside executor workers"):
        remote.complete(["x"], 1)
    engines = []
    map_shards(make_shards([1], 1, str), lambda engine, shard: engines.append(engine), remote, ExecutorConfig(), lambda s, r: None)
    assert isinstance(engines[0], CountdownPolicy) and engines[0].seed == 5
    # a command builds the model in the driver only for the local executor
    model_config = PolicyConfig(backend="transformers", model="some/dir")
    assert policy_for(model_config, ExecutorConfig(kind="ray")) == RemotePolicy(model_config)
    assert isinstance(policy_for(PolicyConfig(backend="countdown"), ExecutorConfig(kind="ray")), CountdownPolicy)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="dask"), "use 'local' or 'ray'"),
        (dict(n_workers=-1), "n_workers"),
        (dict(max_attempts=0), "max_attempts"),
        (dict(cpus_per_worker=0), "nothing bounds the pool"),
        (dict(local_num_cpus=0), "local_num_cpus"),
    ],
)
def test_bad_executor_settings_name_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ExecutorConfig(**kwargs)


def test_pool_size_fills_the_cluster_at_the_per_worker_request():
    assert pool_size(ExecutorConfig(), {"CPU": 2.0}) == 2
    assert pool_size(ExecutorConfig(cpus_per_worker=1, gpus_per_worker=2), {"CPU": 16.0, "GPU": 8.0}) == 4
    assert pool_size(ExecutorConfig(n_workers=1), {"CPU": 2.0}) == 1
    assert pool_size(ExecutorConfig(n_workers=3), {"CPU": 2.0}) == 2  # a third actor would never start
    assert pool_size(ExecutorConfig(n_workers=3, cpus_per_worker=0), {"CPU": 2.0}) == 3
    with pytest.raises(ValueError, match="less than one worker's"):
        pool_size(ExecutorConfig(gpus_per_worker=1), {"CPU": 16.0})


def test_failed_shards_are_reported_with_their_problem_ids():
    shard = Shard(index=4, start=8, items=(None, None), ids=("countdown/8", "countdown/9"))
    error = ShardsFailed([(shard, "ValueError: boom")])
    assert error.problem_ids == ["countdown/8", "countdown/9"]
    assert "shard 4 (problems countdown/8, countdown/9): ValueError: boom" in str(error)


def test_the_executor_is_not_part_of_the_saved_search_config(tmp_path):
    problems = generate_problems(4, seed=0)
    small = SearchConfig(agent_config=MCTSConfig(n_iterations=2, n_children=2, n_rollouts=1), batch_problems=2)
    out = tmp_path / "trees.jsonl"
    trees = search_trees(problems, CountdownPolicy(), small, out_path=out, progress=False)
    assert "executor" not in small.to_dict()
    # the same file resumes under another executor setting: nothing left to search, same trees back
    other = SearchConfig(agent_config=small.agent_config, batch_problems=2, executor=ExecutorConfig(kind="ray"))
    assert search_trees(problems, CountdownPolicy(), other, out_path=out, progress=False) == trees


class CountingJudge:
    """Approves every solution; records the sampling seed of each call."""

    def __init__(self):
        self.seeds = []

    def complete(self, prompts, n, sampling):
        from agents.base import Completion

        self.seeds.append(sampling.seed)
        return [[Completion(text="yes") for _ in range(n)] for _ in prompts]


def test_self_evaluation_votes_do_not_depend_on_the_shard_size():
    problems = [Problem(id=f"c/{i}", problem=p.problem, answer=p.answer, task="countdown", metadata=p.metadata) for i, p in enumerate(generate_problems(6, seed=2))]
    trees = search_trees(problems, CountdownPolicy(), SearchConfig(agent_config=MCTSConfig(n_iterations=4, n_children=3, n_rollouts=2)), progress=False)
    assert any(t.correct_terminals() for t in trees)
    whole = self_evaluate(trees, CountingJudge(), SelfEvalConfig(n_votes=2, shard_trees=8))
    judge = CountingJudge()
    split = self_evaluate(trees, judge, SelfEvalConfig(n_votes=2, shard_trees=1))
    assert split == whole
    assert whole == {t.problem.id: frozenset(n.id for n in t.correct_terminals()) for t in trees}
    assert set(judge.seeds) == {0}
    shard = make_shards(trees, 2, lambda t: t.problem.id)[1]
    assert judge_shard(CountingJudge(), shard, SelfEvalConfig(n_votes=1), "{problem}{solution}") == [whole[t.problem.id] for t in shard.items]
