"""Fault injection for `astro run`: kill the run inside its long stages, resume, compare.

For each trial it starts `astro run` in a fresh folder, waits until a chosen stage is running,
lets it run for a random while, kills the whole process group with SIGKILL (kill -9 of the run
and its workers), and runs the same command again; after the planned kills the run is left to
finish. The finished folder must give the same report (control table and trace statistics) and
byte-identical trained models as one uninterrupted run of the same command.

    python scripts/fault_inject.py --out runs/fault_inject --trials 3 --stages trees sft rl eval
    python scripts/fault_inject.py --out runs/fault_inject --short      # what CI runs: one kill in SFT, one in GRPO

Exit code 0 when every trial matches, 1 otherwise (the differences are printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

RUN = ["--preset", "smoke", "--grpo.n-steps", "2", "--eval.samples", "1"]
STAGE_DIRS = {"trees": "trees", "traces": "traces", "sft": "seed0/sft-astro", "rl": "seed0/rl-astro", "eval": "seed0/eval-astro-rl"}


def command(out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "astro.cli", "run", *RUN, *extra, "--out", str(out)]


def run_to_end(out: Path, extra: list[str]) -> None:
    done = subprocess.run(command(out, extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"fault_inject: the run in {out} failed:\n{done.stderr[-2000:]}")


def kill_inside(out: Path, extra: list[str], stage: str, rng: random.Random, max_wait_s: float) -> bool:
    """Start the run, SIGKILL its process group a random while after `stage` starts; False if it finished first."""
    proc = subprocess.Popen(command(out, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = out / STAGE_DIRS[stage] / "stage.json"
    while proc.poll() is None:
        if marker.exists() and '"running"' in marker.read_text(errors="replace"):
            time.sleep(rng.uniform(0.0, max_wait_s))
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        return False
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def fingerprint(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    models = {}
    for path in sorted(out.glob("seed*/*/model.safetensors")):
        models[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"comparison": report["comparison"]["rows"], "trace_stats": report["trace_stats"], "models": models}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fault_inject.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="working folder (replaced)")
    parser.add_argument("--trials", type=int, default=2, help="runs that are killed and resumed")
    parser.add_argument("--stages", nargs="+", default=["trees", "sft", "rl", "eval"], choices=sorted(STAGE_DIRS),
                        help="stages to kill inside (one chosen at random per kill)")
    parser.add_argument("--kills", type=int, default=2, help="kills per trial before the run is left to finish")
    parser.add_argument("--max-wait", type=float, default=3.0, help="longest wait after the stage starts before the kill (s)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the choice of stages and kill points")
    parser.add_argument("--short", action="store_true", help="CI's version: one trial, a kill in SFT then one in GRPO")
    parser.add_argument("--no-parallel-arms", action="store_true", help="train the arms one after the other")
    args = parser.parse_args(argv)
    extra = ["--no-parallel-arms"] if args.no_parallel_arms else []
    root = Path(args.out)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = random.Random(args.seed)
    run_to_end(root / "reference", extra)
    reference = fingerprint(root / "reference")
    failures = 0
    trials = [["sft", "rl"]] if args.short else [[rng.choice(args.stages) for _ in range(args.kills)] for _ in range(args.trials)]
    for idx, stages in enumerate(trials):
        out = root / f"trial{idx}"
        killed = [stage for stage in stages if kill_inside(out, extra, stage, rng, args.max_wait)]
        run_to_end(out, extra)
        same = fingerprint(out) == reference
        failures += not same
        print(json.dumps({"trial": idx, "killed_in": killed, "matches_uninterrupted": same}), flush=True)
        if not same:
            got = fingerprint(out)
            for key in reference:
                if got[key] != reference[key]:
                    print(f"  differs: {key}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
