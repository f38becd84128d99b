"""Where training scalars go: TensorBoard, Weights & Biases, or nowhere (`report_to`, TRL's naming).

`SFTConfig.report_to` and `GRPOConfig.report_to` take one of `REPORT_TO`; the trainers write
their namespaced scalars (`sft/loss`, `grpo/reward_mean`, ...) through `open_tracker`:

| report_to | where the scalars land |
|---|---|
| "tensorboard" | event files in `OUT/tb` (`tensorboard --logdir OUT/tb`) |
| "wandb" | a W&B run whose files live in `OUT/wandb/` (project `$WANDB_PROJECT`, default "astro-gym"); `WANDB_MODE=offline` keeps it on disk (`wandb sync OUT/wandb/offline-run-*` uploads it later) |
| "none" | nowhere (metrics.jsonl / the summaries are still written) |

The W&B run carries the stage's config (`asdict(config)`) and is named after OUT. W&B is
imported only for "wandb" (the `[wandb]` extra); a missing package is a `UserError` naming
the flag. Nothing here decides a result: a tracker only records.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal, Mapping

from astro_env.errors import UserError

ReportTo = Literal["tensorboard", "wandb", "none"]
REPORT_TO: tuple[str, ...] = ("tensorboard", "wandb", "none")
"""The values `report_to` accepts (TRL's `report_to` names)."""

WANDB_PROJECT = "astro-gym"
"""W&B project of the runs when `$WANDB_PROJECT` is not set."""


def check_report_to(value: str) -> None:
    """Raise ValueError naming the choices unless `value` is one of `REPORT_TO`."""
    if value not in REPORT_TO:
        raise ValueError(f"report_to={value!r}: use one of {', '.join(REPORT_TO)} (TRL's names).")


def import_wandb():
    """The `wandb` module, or a UserError that says how to install it."""
    try:
        import wandb
    except ImportError:
        raise UserError(
            "--report-to wandb needs the wandb package: pip install 'astro-gym[wandb]' "
            "(or use --report-to tensorboard / none)."
        ) from None
    return wandb


def start_wandb_run(out: Path, stage: str, config: Mapping[str, Any]):
    """A W&B run for one stage, its files under `out/wandb` (`out` is created)."""
    wandb = import_wandb()
    out.mkdir(parents=True, exist_ok=True)
    return wandb.init(
        project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT),
        dir=str(out),
        name=f"{out.name}-{stage}" if out.name else stage,
        job_type=stage,
        config=dict(config),
        reinit="finish_previous",
        settings=wandb.Settings(console="off", silent=True),
    )


class MetricsTracker:
    """Scalars of one training stage, sent where `report_to` says (see the module's table).

    `log(metrics, step)` drops non-numeric and non-finite values; `close()` flushes and ends
    the run. Only the main process of a distributed run should make one.
    """

    def __init__(self, report_to: str, out: Path, stage: str, config: Mapping[str, Any], purge_step: int | None = None) -> None:
        check_report_to(report_to)
        self.report_to = report_to
        self._tb = None
        self._run = None
        if report_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(out) / "tb"), purge_step=purge_step)
        elif report_to == "wandb":
            self._run = start_wandb_run(Path(out), stage, config)

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        scalars = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, step)
        if self._run is not None and scalars:
            self._run.log(scalars, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._run is not None:
            self._run.finish()
            self._run = None


__all__ = ["REPORT_TO", "WANDB_PROJECT", "MetricsTracker", "ReportTo", "check_report_to", "import_wandb", "start_wandb_run"]
