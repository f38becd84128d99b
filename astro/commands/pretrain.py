"""`astro pretrain`: build and pre-train the embedded base model.

    astro pretrain --out runs/base --n-steps 2500
    astro pretrain --config runs/x/stages/base.json

Prints a JSON summary line (loss curve, tokens/s, competence of the model and of random play).
"""

from __future__ import annotations

import json
import logging
from typing import Sequence

from astro_env.errors import UserError
from training.embedded import PretrainConfig

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from astro.stage_command import run_stage_command
    from training.embedded import pretrain

    def body(config: PretrainConfig) -> None:
        if not config.out:
            raise UserError("--out is empty: give the folder the base model goes to.")
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        out = pretrain(config)
        summary = json.loads((out / "pretrain_summary.json").read_text(encoding="utf-8"))
        print(json.dumps({"out": str(out), **summary}))

    return run_stage_command(PretrainConfig, argv, body, command="pretrain", description=__doc__.split("\n")[0])
