"""`astro bench ray`: the search stage in-process, on 1 and on 2 Ray workers, with the same trees."""

import importlib.util
import json

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")]


def test_bench_ray_times_each_mode_on_identical_trees(capsys):
    from benchmarks.bench_ray import main

    assert main(["--preset", "ci", "--n-problems", "4", "--batch-problems", "2", "--repeats", "1"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["n_shards"] == 2 and record["ray/startup_s"] > 0
    assert all(record[f"{mode}/seconds"] > 0 for mode in ("local", "ray1", "ray2"))
    assert record["speedup/ray2_vs_ray1"] == pytest.approx(record["ray1/seconds"] / record["ray2/seconds"], rel=0.02)


def test_bench_ray_refuses_bad_workers_in_one_line():
    from benchmarks.bench_ray import main

    from astro_env.errors import UserError

    with pytest.raises(UserError, match="--workers 'two'"):
        main(["--workers", "two"])
