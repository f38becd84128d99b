"""Property tests of the verifier's in-process paths and a smoke run of its benchmark."""

from __future__ import annotations

import pytest

import json
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from astro_env.verifier import Verifier, VerifierConfig

_V = Verifier(VerifierConfig(cache_size=0))
ints = st.integers(min_value=-10**6, max_value=10**6)
small = st.integers(min_value=-9, max_value=9)


@settings(max_examples=200, deadline=None)
@given(ints, ints)
def test_integers_equal_iff_same_value(a, b):
    assert _V.is_equivalent(str(a), str(b)) is (a == b)


@settings(max_examples=200, deadline=None)
@given(ints, st.integers(min_value=1, max_value=10**4), st.sampled_from(["\\frac", "\\dfrac", "\\tfrac"]))
def test_fraction_spellings_agree(p, q, frac):
    value = Fraction(p, q)
    latex = f"-{frac}{{{-p}}}{{{q}}}" if p < 0 else f"{frac}{{{p}}}{{{q}}}"
    assert _V.is_equivalent(latex, f"{value.numerator}/{value.denominator}")
    assert not _V.is_equivalent(latex, f"{value.numerator + 1}/{value.denominator}")


@settings(max_examples=100, deadline=None)
@given(small, small, small)
def test_factored_quadratic_matches_its_expansion_only(a, b, c):
    factored = f"(x+{a})(x+{b})".replace("+-", "-")
    expanded = f"x^2 + {a + b}x + {a * b}".replace("+ -", "- ")
    assert _V.is_equivalent(factored, expanded)
    if c != a * b:
        assert not _V.is_equivalent(factored, f"x^2 + {a + b}x + {c}".replace("+ -", "- "))


@pytest.mark.slow
def test_benchmark_prints_one_json_line(capsys):
    import pytest

    from benchmarks import bench_verifier

    try:
        rc = bench_verifier.main(["--limit", "20"])
    except FileNotFoundError as err:
        pytest.skip(f"benchmark data absent: {err}")
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(lines) == 1
    result = json.loads(lines[0])
    assert result["n_problems"] == 20
    assert result["matched/ours_n_true"] == 20
    assert result["ours_per_s"] > 0 and result["math_verify_per_s"] > 0
    assert 0.0 <= result["agreement"] <= 1.0
    assert result["labelled/n_pairs"] >= 300
    assert result["labelled/ours_accuracy"] >= result["labelled/math_verify_accuracy"]
    assert result["ours_per_cpu_s"] > 0 and result["math_verify_per_cpu_s"] > 0
    assert result["independent/n_pairs"] >= 300
    assert result["independent/lenient_accuracy"] > result["independent/math_verify_accuracy"]
    assert result["worst_case/n_calls"] == 2 * len(bench_verifier.ADVERSARIAL)
    assert result["worst_case/wrong_verdicts"] == []
