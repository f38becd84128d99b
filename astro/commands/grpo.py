"""`astro grpo`: GRPO of a policy in the environment.

    astro grpo --model runs/sft --problems runs/x/problems/train.jsonl --out runs/rl --engine trl
    astro grpo --model runs/sft --task countdown --task-config.n-numbers 4 --out runs/rl
    accelerate launch --config_file training/configs/accelerate_zero3.yaml -m astro.cli grpo --config runs/x/stages/seed0/rl-astro.json

`--engine` names the trainer (astro, trl, or a plug-in's name in the `astro.grpo_engines`
entry-point group); `--backend` the rollout policy backend (any registered backend that meets
`agents.base.TrainablePolicyAgent`). Prints the output folder and `grpo_summary.json` as one JSON line.
"""

from __future__ import annotations

import json
from typing import Sequence

from training.grpo import GRPOConfig

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from astro.stage_command import run_stage_command
    from training.grpo import train_grpo

    def body(config: GRPOConfig) -> None:
        out = train_grpo(config)
        summary = json.loads((out / "grpo_summary.json").read_text(encoding="utf-8"))
        print(json.dumps({"out": str(out), **summary}))

    return run_stage_command(GRPOConfig, argv, body, command="grpo", description=__doc__.split("\n")[0], aliases=ALIASES, default=GRPOConfig())


ALIASES = {"--chat-template": "--chat.template", "--system-prompt": "--chat.system-prompt"}
"""Short flags (plain renamings): the chat settings."""
