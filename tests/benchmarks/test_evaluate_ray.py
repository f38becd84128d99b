"""`astro eval --executor ray` with the transformers backend: workers load the model, records equal a local run's."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor tests need ray (pip install 'astro-gym[ray]')")

from astro_env.jsonl import read_jsonl  # noqa: E402
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy  # noqa: E402

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]


def run_eval(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "astro.cli", "eval", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)


def test_transformers_policy_built_inside_each_worker_samples_what_a_local_run_samples(tmp_path):
    tokenizer = build_tokenizer(kind="char")
    tiny = ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_position_embeddings=256)
    model_dir = save_policy(build_model(tokenizer, tiny, seed=0), tokenizer, tmp_path / "model")
    common = ["--policy", str(model_dir), "--backend", "transformers", "--device", "cpu", "--bench", "countdown:6:0",
              "--samples", "2", "--max-tokens", "12", "--temperature", "1.0", "--eval.batch-size", "2", "--no-progress"]
    local = run_eval(*common, "--out", str(tmp_path / "local"))
    sharded = run_eval(*common, "--out", str(tmp_path / "ray"), "--executor", "ray", "--eval.executor.n-workers", "2")
    assert local.returncode == 0, local.stderr[-2000:]
    assert sharded.returncode == 0, sharded.stderr[-2000:]
    assert "executor: 3 shards (6 problems) on 2 Ray workers" in sharded.stderr

    def completions(folder):
        return sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(folder / "countdown-6-0" / "completions.jsonl"))

    records = completions(tmp_path / "ray")
    assert len(records) == 12 and len({json.loads(r)["completion"] for r in records}) > 1  # sampled, not constant
    assert records == completions(tmp_path / "local")
