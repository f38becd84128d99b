"""An outside package installed with `pip install -e` adds components through entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True, cwd=ROOT)


@pytest.mark.slow
def test_pip_install_e_adds_a_search_agent_a_task_and_a_backend(tmp_path):
    _pip("install", "--no-deps", "--no-build-isolation", "-e", str(ROOT / "examples"))
    try:
        # a fresh interpreter, started outside the checkout: it sees the plug-in only through its entry points
        names = subprocess.run(
            [sys.executable, "-c", "from astro_env.registry import *; import json;"
             "print(json.dumps([SEARCH_AGENTS.names(), TASKS.names(), POLICIES.names()]))"],
            cwd=tmp_path, capture_output=True, text=True, check=True,
        )
        agents, tasks, policies = json.loads(names.stdout)
        assert "greedy" in agents and "modsum" in tasks and "guess" in policies
        out = tmp_path / "trees.jsonl"
        run = subprocess.run(
            [sys.executable, "-m", "astro.cli", "search", "--problems", "countdown:4", "--policy.backend", "countdown",
             "--search-agent", "greedy", "--search.agent-config.n-attempts", "2", "--out", str(out), "--no-progress"],
            cwd=tmp_path, capture_output=True, text=True,
        )
        assert run.returncode == 0, run.stderr
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(records) == 4 and {r["agent"] for r in records} == {"greedy_restarts"}
        assert json.loads(run.stdout.strip().splitlines()[-1])["agent"] == "greedy"
    finally:
        _pip("uninstall", "-y", "astro-gym-examples")
