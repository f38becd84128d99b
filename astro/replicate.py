"""`astro replicate`: N runs that differ in every seed, and the paired differences across them.

    astro replicate --replicas 5 --out runs/replicate                  # the default, five times
    astro replicate --replicas 5 --eval-every 10 --out runs/replicate  # + GRPO dynamics of replica 0

Replica k is `astro run` with data seed `--data-seed + k` (its own problems, test split,
pre-trained base, trees and traces) and training seed `--seeds[0] + k` (SFT, GRPO, evaluation),
in `OUT/replica<k>/`, a complete run folder with its own report. `--eval-every` applies to
replica 0 only (the training dynamics of one replica, as in the paper). Then `OUT/replicate.md`
and `OUT/replicate.json`: every model's pass@1 as a mean with its 95% t interval over replicas,
the paired differences ASTRO-RL - Direct-RL and ASTRO-RL - ASTRO-SFT (paired t over replicas:
training, data and evaluation variation together; paired bootstrap over problems within
replicas), the compute-matched baselines averaged over replicas, and replica 0's dynamics.

A replica that already finished is skipped (its stages are keyed as in `astro run`), so a
replicate resumes after a crash and grows when `--replicas` grows. Every other flag is a flag of
`astro run` (`astro run --help`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from astro.config import MODEL_LABELS, RunConfig
from astro_env.errors import UserError

log = logging.getLogger("astro.replicate")

__all__ = ["main", "replica_configs", "write_replicate_report"]


def replica_configs(config: RunConfig, n: int) -> list[RunConfig]:
    """The configs of replicas 0..n-1: data seed and training seed shifted by k, dynamics in replica 0 only."""
    if n < 1:
        raise UserError(f"--replicas {n}: give at least 1 (5 or more to decide a difference).")
    if len(config.seeds) != 1:
        raise UserError(f"--seeds {' '.join(map(str, config.seeds))}: a replicate gives each replica one training seed "
                        "(replica k uses --seeds + k); give one seed.")
    return [replace(config, data_seed=config.data_seed + k, seeds=(config.seeds[0] + k,), eval_every=config.eval_every if k == 0 else 0)
            for k in range(n)]


def write_replicate_report(configs: Sequence[RunConfig], run_dirs: Sequence[Path], out: Path) -> str:
    """replicate.md / replicate.json over the finished replicas in `run_dirs` (see the module docstring)."""
    from astro.report import (compute_matched_section, load_eval_reports, load_records, paired_section, reports_by_seed)
    from astro_env.jsonl import write_json
    from benchmarks.report import comparison_json, comparison_table, matched_table, paired_table

    benches = configs[0].benches
    reports: dict[str, list] = {}
    by_seed: dict[str, dict[int, Any]] = {}
    records: dict[str, dict[int, dict[str, Any]]] = {}
    for config, run_dir in zip(configs, run_dirs):
        for label, per_seed in load_eval_reports(config, run_dir).items():
            reports.setdefault(label, []).extend(per_seed)
        replica = reports_by_seed(config, run_dir)
        for name, per_seed in replica.items():
            by_seed.setdefault(name, {}).update(per_seed)  # the replicas' training seeds are distinct
        for bench, per_seed in load_records(config, run_dir, replica).items():
            records.setdefault(bench, {}).update(per_seed)
    paired = paired_section(by_seed, records, benches)
    matched = compute_matched_section(records)
    first = json.loads((run_dirs[0] / "report.json").read_text()) if (run_dirs[0] / "report.json").exists() else {}
    dyn = first.get("dynamics", {})
    lines = [
        f"# Replicate: {len(configs)} runs of preset `{configs[0].preset}` differing in every seed",
        "",
        f"Replica k: data seed {configs[0].data_seed} + k (problems, test split, base, trees, traces), training seed "
        f"{configs[0].seeds[0]} + k (SFT, GRPO, evaluation); each replica's own report is `replica<k>/report.md`.",
        "",
        "## pass@1 over replicas (mean ± 95% t half-width)",
        "",
        comparison_table(reports, benches=list(benches)),
        "## Paired differences (percentage points of pass@1)",
        "",
        "Per replica, the difference between two models of that replica. Paired t over replicas: data, base, trees, "
        "training and evaluation variation together. Bootstrap: 2,000 resamples of the problems within each replica "
        "(evaluation variation only).",
        "",
        paired_table(paired, MODEL_LABELS) if paired else "(fewer than two models evaluated)\n",
    ]
    if matched:
        lines += ["## Compute-matched baselines (means over replicas)", "",
                  "As in a run's report: each baseline at the row model's mean tokens per problem.", ""]
        for bench, m in matched.items():
            lines += [f"`{bench}`:", "", matched_table(m, MODEL_LABELS)]
    if any(dyn.get("checkpoints", {}).values()):
        lines += ["## Training dynamics (replica 0)", "", "| arm | set | checkpoints | r(backtracks, pass@1) | r(tokens, pass@1) |",
                  "|---|---|---|---|---|"]
        for arm, per_bench in dyn["checkpoints"].items():
            for bench, d in per_bench.items():
                lines.append(f"| {arm} | {bench} | {len(d['steps'])} | {_r(d.get('r_backtracks'))} | {_r(d.get('r_tokens'))} |")
        lines.append("")
    markdown = "\n".join(lines)
    (out / "replicate.md").write_text(markdown, encoding="utf-8")
    write_json(out / "replicate.json", {
        "replicas": [{"data_seed": c.data_seed, "seed": c.seeds[0], "run_dir": str(d.relative_to(out))} for c, d in zip(configs, run_dirs)],
        "comparison": comparison_json(reports) if reports else {},
        "paired_differences": [d.to_dict() for d in paired],
        "compute_matched": matched,
        "dynamics": dyn,
    })
    return markdown


def _r(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    from astro.args import take_option
    from astro.run import check_environment, parse_args

    argv = list(argv if argv is not None else [])
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return 0
    value, argv = take_option(argv, "--replicas")
    try:
        n = int(value) if value is not None else 5
    except ValueError:
        raise UserError(f"--replicas {value!r}: give a whole number, e.g. --replicas 5.") from None
    config, args = parse_args(argv)
    if args.dry_run:
        raise UserError("astro replicate has no --dry-run: use `astro run --dry-run` with the replica's seeds.")
    if not config.runnable_here:
        raise UserError(f"preset {config.preset!r} needs GPUs: launch its replicas' stages on a cluster (astro run --dry-run).")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out or f"runs/replicate-{config.preset}")
    configs = replica_configs(config, n)
    run_dirs = [out / f"replica{k}" for k in range(n)]
    for replica, run_dir in zip(configs, run_dirs):
        check_environment(replica, run_dir)
    import torch

    from astro.pipeline import run_pipeline
    from astro.stages import RunLock

    torch.set_num_threads(config.threads)
    with RunLock(out):
        for k, (replica, run_dir) in enumerate(zip(configs, run_dirs)):
            log.info("replica %d/%d: data seed %d, seed %d", k + 1, n, replica.data_seed, replica.seeds[0])
            with RunLock(run_dir):
                run_pipeline(replica, run_dir)
        print(write_replicate_report(configs, run_dirs, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
