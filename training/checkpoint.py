"""Training checkpoints: write atomically, find the last good one, resume exactly.

A checkpoint is a directory `ROOT/step-00000012/` holding everything a run needs to continue
as if it had never stopped:

- the model (`save_pretrained`, so the directory also loads with `AutoModelForCausalLM`) and
  the tokenizer; a LoRA model is saved merged, with its adapter in `adapter/` (`training.lora`);
- `optimizer.pt` (the optimizer's `state_dict`; under DeepSpeed the engine's own sharded
  state in `engine/`, written by `accelerator.save_state`);
- `rng_<rank>.pt` (Python, NumPy and torch generator states of each process);
- `trainer_state.json` (`TrainerState`: optimizer steps done, micro-batches consumed, metrics),
  written last.

Each checkpoint is built in a hidden temporary directory and renamed into place, so a run
killed mid-save leaves the previous checkpoint intact and no half-written one that
`latest_checkpoint` would pick. Files can still be damaged after the rename (a disk that
filled up, a copy cut short): `latest_loadable_checkpoint` checks every file of the newest
checkpoint and falls back to the previous one with a warning. The learning-rate schedule is
a pure function of the step (see `training.sft.cosine_lr`), so the step restores it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from training.lora import ADAPTER_DIR, save_merged

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
ENGINE_DIR = "engine"
_NAME = re.compile(r"^step-(\d{8})$")


@dataclass(frozen=True)
class TrainerState:
    """Where a run stands: the counters a resumed run continues from."""

    step: int
    """Optimizer steps completed."""
    data_position: int
    """Micro-batches consumed: the index of the next one in the run's fixed, seeded order."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Last logged metrics (informational)."""

    def __post_init__(self) -> None:
        if self.step < 0 or self.data_position < 0:
            raise ValueError(f"step={self.step}, data_position={self.data_position}: counters are >= 0.")

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "data_position": self.data_position, "metrics": dict(self.metrics)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainerState":
        return cls(step=int(data["step"]), data_position=int(data["data_position"]), metrics=dict(data.get("metrics", {})))


def checkpoint_dir(root: str | os.PathLike, step: int) -> Path:
    """The directory of the checkpoint taken after `step` optimizer steps."""
    return Path(root) / f"step-{step:08d}"


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under `root` (those with a `trainer_state.json`), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint under `root`, or None when there is none."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def check_checkpoint(path: str | os.PathLike) -> None:
    """Return when every file of checkpoint `path` reads back; raise ValueError naming the first that does not.

    Checks the JSON files parse, safetensors headers cover their files, and `.pt`/`.bin`
    files open as torch archives (memory-mapped, so large optimizer states are not copied).
    The DeepSpeed `engine/` directory is checked for presence only.
    """
    import torch

    path = Path(path)
    if not (path / STATE_FILE).is_file():
        raise ValueError(f"{path} has no {STATE_FILE}")
    adapter = path / ADAPTER_DIR
    files = sorted(path.iterdir()) + (sorted(adapter.iterdir()) if adapter.is_dir() else [])
    for file in files:
        if not file.is_file():
            continue
        try:
            if file.suffix == ".json":
                json.loads(file.read_text(encoding="utf-8"))
            elif file.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(file), "pt") as handle:
                    handle.keys()
            elif file.suffix in (".pt", ".bin"):
                torch.load(file, map_location="cpu", weights_only=False, mmap=True)
        except Exception as exc:  # any failure to read means the checkpoint cannot be resumed
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ValueError(f"{file} does not load ({type(exc).__name__}: {first[:200]})") from None
    TrainerState.from_dict(json.loads((path / STATE_FILE).read_text(encoding="utf-8")))


def latest_loadable_checkpoint(root: str | os.PathLike, warn: Callable[[str], None] | None = None) -> Path | None:
    """The newest checkpoint under `root` whose files all load (`check_checkpoint`), or None.

    A newer checkpoint that fails the check is skipped with a warning (default: one line on
    stderr) naming the file and the checkpoint used instead; it is left on disk for inspection.
    """
    warn = warn if warn is not None else (lambda line: print(line, file=sys.stderr, flush=True))
    found = list_checkpoints(root)
    for index in range(len(found) - 1, -1, -1):
        try:
            check_checkpoint(found[index])
        except ValueError as exc:
            fallback = next((p for p in reversed(found[:index])), None)
            warn(f"warning: checkpoint {found[index].name} is damaged ({exc}); "
                 + (f"trying the previous one, {fallback.name}." if fallback else "no older checkpoint: starting from the beginning."))
            continue
        return found[index]
    return None


def model_fingerprint(path_or_name: str, chunk: int = 1 << 20) -> str:
    """A short hex digest identifying a model: its directory's config and weights, or its hub name.

    For a local directory: config.json's bytes and, for each weight file (`*.safetensors`,
    `*.bin`, `*.pt`), its name, size and first and last `chunk` bytes, so a retrained or
    replaced model changes the digest without hashing many gigabytes. For a hub name: the name.
    """
    digest = hashlib.sha256()
    path = Path(path_or_name)
    if not path.is_dir():
        digest.update(f"name:{path_or_name}".encode())
        return digest.hexdigest()[:16]
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt") and not p.name.startswith(("optimizer", "rng_"))):
        size = file.stat().st_size
        digest.update(f"{file.name}:{size}".encode())
        with file.open("rb") as fh:
            digest.update(fh.read(chunk))
            if size > chunk:
                fh.seek(max(chunk, size - chunk))
                digest.update(fh.read(chunk))
    return digest.hexdigest()[:16]


def capture_rng() -> dict[str, Any]:
    """The Python, NumPy and torch (CPU and CUDA) generator states of this process."""
    import numpy as np
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Set the generators captured by `capture_rng`."""
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _is_deepspeed(accelerator: Any) -> bool:
    if accelerator is None:
        return False
    return str(getattr(accelerator, "distributed_type", "")).upper().endswith("DEEPSPEED")


def save_checkpoint(
    root: str | os.PathLike,
    state: TrainerState,
    model: Any,
    tokenizer: Any = None,
    optimizer: Any = None,
    accelerator: Any = None,
    keep_last: int = 2,
    extra_json: Mapping[str, Any] | None = None,
) -> Path:
    """Path of the new checkpoint `ROOT/step-<state.step>`, written atomically.

    With an `accelerator`, the model is unwrapped and its full state dict gathered (ZeRO-3
    included); a LoRA model is written merged, its adapter in `adapter/`; only the main process writes shared files, every process writes its RNG state.
    Afterwards only the `keep_last` newest checkpoints are kept (0 keeps all). `extra_json`
    maps file names to JSON-serialisable objects written beside the state (e.g. the config).
    """
    import torch

    root = Path(root)
    final = checkpoint_dir(root, state.step)
    tmp = root / f".tmp-{final.name}"
    is_main = accelerator is None or accelerator.is_main_process
    rank = 0 if accelerator is None else accelerator.process_index
    if is_main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()

    if accelerator is not None:
        state_dict = accelerator.get_state_dict(model)
        unwrapped = accelerator.unwrap_model(model)
        if is_main:
            save_merged(unwrapped, tmp, state_dict=state_dict)
    else:
        save_merged(model, tmp)
    if is_main and tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    if optimizer is not None:
        if _is_deepspeed(accelerator):
            accelerator.save_state(str(tmp / ENGINE_DIR))
        elif is_main:
            torch.save(optimizer.state_dict(), tmp / OPTIMIZER_FILE)
    torch.save(capture_rng(), tmp / f"rng_{rank}.pt")
    if accelerator is not None:
        accelerator.wait_for_everyone()

    if is_main:
        for name, obj in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
        (tmp / STATE_FILE).write_text(json.dumps(state.to_dict(), indent=2) + "\n", encoding="utf-8")
        if final.exists():  # re-saving a step (a resumed run that stopped right after it)
            shutil.rmtree(final)
        os.replace(tmp, final)
        if keep_last > 0:
            for old in list_checkpoints(root)[:-keep_last]:
                shutil.rmtree(old, ignore_errors=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return final


def load_checkpoint(
    path: str | os.PathLike,
    optimizer: Any = None,
    accelerator: Any = None,
    restore_rng_state: bool = True,
) -> TrainerState:
    """The `TrainerState` saved in checkpoint `path`; loads the optimizer state into `optimizer`.

    The model weights are not loaded here: build the model from `path` with
    `from_pretrained` (the checkpoint is a model directory) before creating the optimizer.
    Under DeepSpeed, the engine state (weights included) is restored with `accelerator.load_state`.
    Raises FileNotFoundError when `path` is not a complete checkpoint.
    """
    import torch

    path = Path(path)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {STATE_FILE}); pick one from list_checkpoints().")
    state = TrainerState.from_dict(json.loads((path / STATE_FILE).read_text(encoding="utf-8")))
    if optimizer is not None:
        if _is_deepspeed(accelerator):
            accelerator.load_state(str(path / ENGINE_DIR))
        else:
            optimizer.load_state_dict(torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=False))
    if restore_rng_state:
        rank = 0 if accelerator is None else accelerator.process_index
        rng_file = path / f"rng_{rank}.pt"
        if rng_file.is_file():
            restore_rng(torch.load(rng_file, weights_only=False))
    return state


def remove_stale_temporaries(root: str | os.PathLike) -> int:
    """Delete half-written `.tmp-step-*` directories left by a killed run; returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(".tmp-step-")]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return len(stale)


__all__ = [
    "TrainerState",
    "capture_rng",
    "check_checkpoint",
    "checkpoint_dir",
    "latest_checkpoint",
    "latest_loadable_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "model_fingerprint",
    "remove_stale_temporaries",
    "restore_rng",
    "save_checkpoint",
]
