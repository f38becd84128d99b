"""`astro bench verifier`: refuses in one line without its optional peer; its adversarial corpus gets the
expected verdicts (the worst-case CPU per call is the benchmark's to measure, not a unit test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from astro_env.verifier import Verifier, VerifierConfig
from benchmarks.bench_verifier import ADVERSARIAL

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = "import sys; sys.modules['math_verify'] = None; from astro.commands.bench import main; raise SystemExit(main(['verifier']))"


def test_bench_verifier_without_math_verify_names_the_install_in_one_line():
    done = subprocess.run([sys.executable, "-c", BLOCKED], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install -e '.[compare]'" in lines[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    v = Verifier(VerifierConfig(cache_size=0))
    yield v
    v.close()


@pytest.mark.parametrize("name, completion, gold, expected", ADVERSARIAL, ids=[a[0] for a in ADVERSARIAL])
@pytest.mark.parametrize("policy", ["standard", "lenient"])
def test_adversarial_corpus_verdicts(verifier, name, completion, gold, expected, policy):
    assert verifier.reward(completion, gold, policy) == expected
