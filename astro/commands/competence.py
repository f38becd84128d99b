"""`astro competence`: the competence table of a run's models on its held-out problems.

    astro competence --config runs/x/stages/seed0/competence.json

Writes `OUT/competence.json`: a row per model (legal steps, arithmetic, the comparison with the
goal, solve rate, verification AUC) beside the reference rows, for a task that defines the probes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from astro_env.errors import UserError

__all__ = ["CompetenceJob", "main", "measure_competence"]


@dataclass(frozen=True)
class CompetenceJob:
    """The `competence` stage: which models, on which held-out problems, of which task."""

    out: str = ""
    """Output folder: competence.json."""
    task: str = ""
    """The run's task."""
    task_config: dict = field(default_factory=dict)
    """The task's `Config` fields (`{}`: its defaults)."""
    models: dict[str, str] = field(default_factory=dict)
    """Report label -> model directory."""
    problems: str = ""
    """Held-out problems (.jsonl)."""
    n_verify: int = 100
    """Problems giving one reached and one missed final step each for the verification AUC (at most all of them)."""
    seed: int = 0
    """Seed of the reference rows and of the choice of missed steps."""


def measure_competence(job: CompetenceJob) -> dict[str, Any]:
    """The task's competence report of `job` (`benchmarks.competence.competence_report`) written to
    `job.out/competence.json`; `{}` is written for a task that defines no probes."""
    import astro_env
    from astro_env.jsonl import write_json
    from astro_env.loaders import read_problems

    if not (job.out and job.task and job.problems and job.models):
        raise UserError("astro competence needs --out, --task, --problems and --models LABEL DIR ...")
    task = astro_env.get_task(job.task, job.task_config)
    from benchmarks.competence import CompetenceConfig, competence_report

    problems = read_problems(job.problems)
    report = competence_report(task, dict(job.models), problems,
                               CompetenceConfig(n_problems=len(problems), n_verify=min(job.n_verify, len(problems)), seed=job.seed))
    write_json(Path(job.out) / "competence.json", report or {})
    return report or {}


def main(argv: Sequence[str] | None = None) -> int:
    from astro.stage_command import run_stage_command

    def body(job: CompetenceJob) -> None:
        table = measure_competence(job)
        print(json.dumps({"out": job.out, "models": list(table.get("table", {}))}))

    return run_stage_command(CompetenceJob, argv, body, command="competence", description=__doc__.split("\n")[0],
                             default=CompetenceJob())
