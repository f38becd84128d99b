#!/usr/bin/env bash
# The GPU paths in one go, on a tiny randomly initialised Llama with a chat template: bf16 SFT under
# accelerate + DeepSpeed ZeRO-3, vLLM on CUDA with weight sync and the log-prob check, GRPO on TRL with
# vLLM, and a smoke `astro run --backend vllm`. One line per path: PASS|FAIL|SKIP, what ran, its figure.
#
#   scripts/gpu_check.sh [OUT_DIR]          (default OUT_DIR: runs/gpu-check)
#
# Without a CUDA GPU it prints one line and exits 0. Otherwise it makes a venv (GPU_CHECK_VENV, default
# .venv-gpu in the repository root, with the system's site packages visible, so an installed CUDA torch is
# reused when vLLM accepts it), installs vLLM, DeepSpeed, TRL, peft and this project from PyPI, and runs
# scripts/gpu_check.py under a timeout. GPU_CHECK_PYTHON=/path/to/python skips the venv and the installs
# (an interpreter that already has them, e.g. on a machine without internet access).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q "GPU"; then
  echo "gpu_check: no CUDA GPU on this machine (nvidia-smi lists none); nothing to check."
  exit 0
fi
out="${1:-$root/runs/gpu-check}"
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
  py="$GPU_CHECK_PYTHON"
else
  venv="${GPU_CHECK_VENV:-$root/.venv-gpu}"
  [ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv" || { echo "FAIL setup: python3 -m venv $venv failed"; exit 1; }
  py="$venv/bin/python"
  echo "gpu_check: installing vllm, deepspeed, trl, peft and the project into $venv (log: $venv/install.log)"
  # vLLM first, with the CUDA torch it pins; then the project without its torch pin (a CPU-wheel bound)
  # and its other requirements, read from setup.cfg
  deps="$(python3 -c 'import configparser, sys; c = configparser.ConfigParser(); c.read(sys.argv[1]); print(" ".join(l.strip() for l in c["options"]["install_requires"].splitlines() if l.strip() and not l.strip().startswith(("#", "torch"))))' "$root/setup.cfg")"
  if ! { timeout 900 "$py" -m pip install vllm deepspeed trl peft && timeout 300 "$py" -m pip install $deps \
         && timeout 120 "$py" -m pip install --no-deps -e "$root"; } >"$venv/install.log" 2>&1; then
    echo "FAIL setup: pip install failed or ran past its limit; see $venv/install.log"
    exit 1
  fi
fi
nvidia-smi -L | head -1
cd "$root" && timeout 660 "$py" scripts/gpu_check.py --device cuda --out "$out"
code=$?
[ "$code" -eq 124 ] && echo "FAIL gpu_check: the checks ran past 11 minutes"
exit "$code"
