"""DeepSpeed, real (marker `deepspeed`): SFT under `accelerate launch --num_processes 2` with the
shipped ZeRO-2 and ZeRO-3 configs on the CPU (DS_ACCELERATOR=cpu, gloo).

- Both processes train one run: the per-step loss curve matches a single-process run over the same
  micro-batches within LOSS_TOL (the shipped JSON trains in bf16, the reference in fp32).
- A run killed (every process, like kill -9) after step 3 resumes from its step-2 checkpoint and
  ends with the weights of the uninterrupted run.

Each launch starts two Python processes with torch and DeepSpeed (about a minute on two busy
cores); the first ever launch also JIT-compiles DeepSpeed's shared-memory op (minutes, cached in
~/.cache/torch_extensions).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import torch  # noqa: E402

from search.trace import Trace
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy
from training.sft import SFTConfig, train_sft

pytestmark = [
    pytest.mark.deepspeed,
    pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                       reason="DeepSpeed is not installed (pip install 'astro-gym[deepspeed]')"),
]

ROOT = Path(__file__).resolve().parents[2]
LOSS_TOL = 0.005
"""Largest |loss_2proc - loss_1proc| per step (shipped DeepSpeed JSON, bf16 on, against fp32; measured 0.0015 on a loss of ~4.3-4.9)."""
RUN = dict(batch_size=4, lr=3e-3, warmup_ratio=0.0, save_every=2, keep_last=0, log_every=1, seed=0)
"""8 optimizer steps over 64 traces: 2 processes x 1 micro-batch of 4 per step."""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ds")
    rng = random.Random(0)
    pairs = []
    for _ in range(64):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        pairs.append((f"Numbers: {a} {b}\nTarget: {a + b}\n\n", f"{a}+{b}={a + b}\n\n\\boxed{{{a}+{b}}}"))
    traces = root / "traces.jsonl"
    traces.write_text("".join(json.dumps(Trace(problem_id=f"t/{i}", arm="direct", prompt=p, completion=c).to_dict()) + "\n"
                              for i, (p, c) in enumerate(pairs)))
    tokenizer = build_tokenizer([p + c for p, c in pairs], vocab_size=128)
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=2, n_heads=2, intermediate_size=64,
                                               max_position_embeddings=256), seed=0)
    return {"root": root, "traces": traces, "base": save_policy(model, tokenizer, root / "base")}


def _args(ws, out: Path) -> list[str]:
    args = ["--traces", str(ws["traces"]), "--model", str(ws["base"]), "--out", str(out), "--mixed-precision", "no"]
    for key, value in RUN.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _launch(stage: int, argv: list[str], module: str = "astro.cli") -> subprocess.CompletedProcess:
    """`accelerate launch ... -m astro.cli sft ARGV` (what `astro run` launches), or `-m module ARGV` for another entry point."""
    if module == "astro.cli":
        argv = ["sft", *argv]
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
           "MASTER_PORT": str(29500 + stage * 10 + random.randint(0, 9))}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", f"training/configs/accelerate_zero{stage}.yaml",
           "--num_processes", "2", "-m", module, *argv]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)


def _losses(out: Path) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    return [e.value for e in sorted(events.Scalars("sft/loss"), key=lambda e: e.step)]


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


@pytest.fixture(scope="module")
def reference(workspace):
    """The single-process run over the same micro-batches (grad_accum 2 = two processes' share)."""
    out = workspace["root"] / "single"
    train_sft(SFTConfig(traces=str(workspace["traces"]), model=str(workspace["base"]), out=str(out),
                        mixed_precision="no", grad_accum=2, **RUN))
    return _losses(out)


@pytest.fixture(scope="module")
def launched(workspace):
    """stage -> output folder of an uninterrupted 2-process run."""
    runs = {}
    for stage in (2, 3):
        out = workspace["root"] / f"zero{stage}"
        done = _launch(stage, _args(workspace, out))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        runs[stage] = out
    return runs


@pytest.mark.parametrize("stage", [2, 3])
def test_two_processes_match_the_single_process_loss_curve(stage, launched, reference):
    out = launched[stage]
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["n_steps"] == 8 and summary["n_micro_batches"] == 16  # both processes trained one run
    losses = _losses(out)
    assert len(losses) == len(reference) == 8
    gaps = [abs(a - b) for a, b in zip(losses, reference)]
    print(f"ZeRO-{stage} 2 processes: {[round(x, 4) for x in losses]}; 1 process: {[round(x, 4) for x in reference]}; "
          f"largest gap {max(gaps):.4f}")
    assert max(gaps) <= LOSS_TOL, f"ZeRO-{stage} losses {losses} vs single-process {reference}"
    assert losses[-1] < losses[0] - 0.1  # and it learns


@pytest.mark.parametrize("stage", [2, 3])
def test_killed_run_resumes_from_its_last_checkpoint(stage, workspace, launched):
    out = workspace["root"] / f"killed{stage}"
    killed = _launch(stage, ["3", *_args(workspace, out)], module="tests.training.sft_killed")
    assert killed.returncode != 0 and not (out / "sft_summary.json").exists()
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-00000002"]
    resumed = _launch(stage, _args(workspace, out))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"].endswith("step-00000002") and summary["n_steps"] == 8
    want, got = _weights(launched[stage]), _weights(out)
    assert want.keys() == got.keys()
    worst = max(float((want[k].float() - got[k].float()).abs().max()) for k in want)
    assert worst <= 1e-6, f"ZeRO-{stage}: resumed weights differ from the uninterrupted run by {worst}"
