"""Component configs refuse bad values in __post_init__ with one ValueError that names the fix."""

from __future__ import annotations

import math

import pytest

from agents.base import SamplingConfig
from benchmarks.evaluate import EvalConfig
from training.grpo import GRPOConfig
from training.sft import SFTConfig

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": -2.0}, "temperature=-2.0: use a finite value >= 0"),
        ({"temperature": NAN}, "temperature=nan"),
        ({"temperature": INF}, "temperature=inf"),
        ({"top_p": 0.0}, r"top_p=0.0: use a value in \(0, 1\]"),
        ({"top_p": NAN}, "top_p=nan"),
        ({"max_tokens": 0}, "max_tokens=0: use >= 1"),
    ],
)
def test_sampling_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SamplingConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": -2.0}, "temperature=-2.0"),
        ({"temperature": NAN}, "temperature=nan"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"limit": -1}, "limit=-1: use >= 1, or None"),
        ({"limit": 0}, "limit=0"),
        ({"samples": 0}, "samples=0"),
        ({"benches": ()}, "benches is empty"),
    ],
)
def test_eval_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EvalConfig(**kwargs)


SFT = {"traces": "t.jsonl", "model": "m", "out": "o"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": NAN}, "lr=nan must be a finite number > 0"),
        ({"lr": INF}, "lr=inf"),
        ({"lr": -1e-3}, "lr=-0.001"),
        ({"n_epochs": 0}, "n_epochs=0 must be >= 1"),
        ({"max_steps": 0}, "max_steps=0"),
        ({"max_grad_norm": NAN}, "max_grad_norm=nan"),
        ({"adam_betas": (0.9, 1.5)}, "adam_betas"),
    ],
)
def test_sft_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SFTConfig(**SFT, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_steps": -5}, "n_steps=-5: use >= 1"),
        ({"n_steps": 0}, "n_steps=0"),
        ({"n_epochs": 0}, "n_epochs=0"),
        ({"lr": NAN}, "lr=nan must be a finite number"),
        ({"lr": 0.0}, "lr=0.0 must be > 0"),
        ({"temperature": -2.0}, "temperature=-2.0"),
        ({"top_p": 0.0}, "top_p=0.0"),
        ({"threads": -1}, "threads=-1: use >= 1, or 0"),
        ({"beta": INF}, "beta=inf"),
        ({"n_problems": 0}, "n_problems=0"),
        ({"pass_rate_samples": -1}, "pass_rate_samples=-1"),
    ],
)
def test_grpo_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GRPOConfig(**kwargs)


def test_defaults_and_edge_values_are_accepted():
    SamplingConfig(temperature=0.0, top_p=1.0)
    EvalConfig(limit=1, temperature=0.0)
    SFTConfig(**SFT, max_grad_norm=0.0)
    GRPOConfig(pass_rate_samples=0, threads=0, n_steps=1)
