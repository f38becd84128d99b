"""scripts/gpu_check.sh and scripts/gpu_check.py without a GPU: the one-line no-op, the wiring of the
shell script to the Python checks, and (slow, and the engine tiers) the checks themselves on the CPU."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
CHECK = ROOT / "scripts" / "gpu_check.py"


def _gpu_check_module():
    spec = importlib.util.spec_from_file_location("gpu_check", CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_bin(tmp_path, nvidia_smi: str | None) -> dict[str, str]:
    """An environment whose PATH holds only bash, coreutils and (optionally) a fake nvidia-smi script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "head", "grep", "python3", "timeout", "dirname", "cat"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    if nvidia_smi is not None:
        (bin_dir / "nvidia-smi").write_text(f"#!/bin/bash\n{nvidia_smi}\n")
        (bin_dir / "nvidia-smi").chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


@pytest.mark.parametrize("nvidia_smi", [None, "echo 'No devices were found'; exit 9"])
def test_without_a_gpu_the_script_prints_one_line_and_exits_0(tmp_path, nvidia_smi):
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=_fake_bin(tmp_path, nvidia_smi),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.splitlines() == ["gpu_check: no CUDA GPU on this machine (nvidia-smi lists none); nothing to check."]
    assert not (tmp_path / "out").exists() and not (ROOT / ".venv-gpu").exists()


def test_with_a_gpu_the_script_runs_the_checks_on_cuda_with_the_given_python(tmp_path):
    recorder = tmp_path / "python"
    recorder.write_text(f"#!/bin/bash\necho \"$PWD $@\" > {tmp_path / 'args'}\nexit 0\n")
    recorder.chmod(0o755)
    env = {**_fake_bin(tmp_path, "echo 'GPU 0: NVIDIA H200 (UUID: GPU-0)'"), "GPU_CHECK_PYTHON": str(recorder)}
    done = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["GPU 0: NVIDIA H200 (UUID: GPU-0)"]  # no venv, no installs with GPU_CHECK_PYTHON
    assert (tmp_path / "args").read_text().split() == [str(ROOT), "scripts/gpu_check.py", "--device", "cuda", "--out", str(tmp_path / "out")]


def test_the_checks_exit_0_when_torch_sees_no_gpu_and_refuse_unknown_paths(tmp_path):
    done = subprocess.run([sys.executable, str(CHECK), "--device", "cuda", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("gpu_check: torch sees no CUDA GPU") and not (tmp_path / "o").exists()
    done = subprocess.run([sys.executable, str(CHECK), "--only", "sft,warp"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.strip() == "scripts/gpu_check.py: error: --only warp: use some of sft,vllm,trl,run."


def test_the_smoke_run_path_asks_for_vllm_on_cuda_and_reads_the_report(tmp_path, monkeypatch):
    gpu_check = _gpu_check_module()
    calls = []

    def fake_run(cmd, device, timeout_s, log):
        calls.append((cmd, device, timeout_s))
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "report.md").write_text("# report\n")
        return 0, 12.0

    monkeypatch.setattr(gpu_check, "_run", fake_run)
    status, what, figure = gpu_check.check_run(tmp_path, "cuda")
    (cmd, device, timeout_s), = calls
    # vLLM serves a checkpoint: the prepared tiny chat model (no SFT ran here), in its own template
    assert cmd[1:] == ["-m", "astro.cli", "run", "--preset", "smoke", "--backend", "vllm", "--model", str(tmp_path / "base"),
                       "--chat-template", "auto", "--out", str(tmp_path / "run")]
    assert (status, device, timeout_s) == ("PASS", "cuda", gpu_check.TIMEOUT_S["run"])
    assert what == "astro run --preset smoke --backend vllm --model base --chat-template auto" and figure == "report written, 12 s"


def test_the_prepared_model_renders_its_chat_template(tmp_path):
    from transformers import AutoTokenizer

    from agents.chat import ChatConfig, ChatPrompter

    gpu_check = _gpu_check_module()
    base = gpu_check.prepare(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(base)
    prompter = ChatPrompter(ChatConfig(template="auto", system_prompt=gpu_check.SYSTEM), tokenizer)
    ids = prompter.encode(["Problem: What is 1+4?\n\nSolution:\n"])[0]
    assert prompter.active and tokenizer.unk_token_id not in ids and ids.count(tokenizer.bos_token_id) == 1
    assert prompter.end_token_id == tokenizer.convert_tokens_to_ids("<|eot_id|>")
    assert (tmp_path / "traces.jsonl").read_text().count("\n") == len(gpu_check._problems())


def _cpu_checks(tmp_path, only: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(CHECK), "--device", "cpu", "--out", str(tmp_path), "--only", only, "--timeout-scale", "8"],
                          capture_output=True, text=True, timeout=3000, cwd=ROOT, env=env)
    lines = [line for line in done.stdout.splitlines() if line.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP")]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return lines


@pytest.mark.slow
def test_sft_vllm_and_trl_paths_run_on_the_cpu(tmp_path):
    lines = _cpu_checks(tmp_path, "sft,vllm,trl")
    assert [line.split(" ")[:2] for line in lines][::2] == [["PASS", "sft"], ["PASS", "trl"]]
    vllm = lines[1]
    assert vllm.startswith("PASS vllm") if importlib.util.find_spec("vllm") else vllm.startswith("SKIP vllm [vllm]: vllm is not importable")
    assert "final loss" in lines[0] and "+ template" in lines[0] and "2 steps" in lines[2]


@pytest.mark.deepspeed
@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="DeepSpeed is not installed")
def test_zero3_sft_path_runs_on_the_cpu(tmp_path):
    (line,) = _cpu_checks(tmp_path, "sft")
    assert line.startswith("PASS sft [zero3 bf16 (ds_zero3.json)]: 12 steps") and "torch.bfloat16 weights" in line


@pytest.mark.vllm
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (scripts/make_vllm_env.sh)")
def test_vllm_weight_sync_path_runs_on_the_cpu(tmp_path):
    (line,) = _cpu_checks(tmp_path, "vllm")
    assert line.startswith("PASS vllm [cpu fp32 weight sync]: chat ids match")
