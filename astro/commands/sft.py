"""`astro sft`: behaviour cloning (SFT) of a policy on traces.

    astro sft --traces traces/traces_astro.jsonl --model runs/base --out runs/sft --lr 3e-6
    accelerate launch --config_file training/configs/accelerate_zero3.yaml -m astro.cli sft --config runs/x/stages/seed0/sft-astro.json

Prints one JSON line (the output folder and `sft_summary.json`) per run, also under a launcher.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from training.sft import SFTConfig

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from astro.stage_command import run_stage_command
    from training.sft import train_sft

    def body(config: SFTConfig) -> None:
        out = train_sft(config)
        if os.environ.get("RANK", "0") == "0":  # one line per run, also under a launcher
            summary = json.loads((out / "sft_summary.json").read_text(encoding="utf-8"))
            print(json.dumps({"out": str(out), **summary}))

    return run_stage_command(SFTConfig, argv, body, command="sft", description=__doc__.split("\n")[0], aliases=ALIASES, default=SFTConfig())


ALIASES = {"--chat-template": "--chat.template", "--system-prompt": "--chat.system-prompt"}
"""Short flags (plain renamings): the chat settings."""
