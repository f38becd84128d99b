"""`python -m tests.training.sft_killed STEP SFT-ARGS...`: `astro sft` that dies (os._exit, like
kill -9, on every process) right after optimizer step STEP. Used under `accelerate launch` by
test_deepspeed_sft to leave a run with checkpoints and no final model."""

from __future__ import annotations

import os
import sys

from astro.cli import set_reproducible_math

set_reproducible_math()  # before torch loads, as `astro` does: the same float paths as the runs it is compared with

from astro.commands import sft as sft_command  # noqa: E402
from training import sft  # noqa: E402


def main(argv: list[str]) -> int:
    kill_at = int(argv[0])

    def die(step: int) -> None:
        if step == kill_at:
            sys.stdout.flush()
            os._exit(17)

    sft._step_hook = die
    return sft_command.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
