"""The verifier's worker processes die with the process that uses them, however it dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARD = r"\boxed{\sqrt{2^{99999}+1}}"
"""Passes every screen and keeps sympy busy for many seconds (a 30,000-digit integer's square root)."""

CHILD = r"""
import json, sys
from astro_env.verifier import Verifier, VerifierConfig
v = Verifier(VerifierConfig(timeout_s=120, wall_slack_s=120, cache_size=0))
assert v.is_equivalent(r"\cot x", r"\frac{\cos x}{\sin x}")  # the zygote and a worker are up
print(json.dumps(v.pool.pids()), flush=True)
v.reward(sys.argv[1], "1")  # the worker computes for far longer than this test waits
print("finished", flush=True)
"""


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting to be reaped by its new parent is dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's")
def test_sigkill_inside_reward_leaves_no_worker_alive():
    child = subprocess.Popen([sys.executable, "-c", CHILD, HARD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(child.stdout.readline())
        zygote, workers = pids[0], pids[1:]
        assert workers and all(_running(p) for p in pids)
        busy = time.monotonic() + 60
        while sum(_cpu_seconds(p) for p in workers if _running(p)) < 0.3:  # inside reward, the worker computing
            assert time.monotonic() < busy, "the worker never started on the hard input"
            time.sleep(0.05)
        assert child.poll() is None
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        time.sleep(1.0)
        alive = [p for p in pids if _running(p)]
        assert alive == [], f"alive a second after the SIGKILL: {alive} (zygote {zygote})"
    finally:
        if child.poll() is None:
            child.kill()
        for pid in pids if "pids" in locals() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
