"""Shared fixtures of the integration tests: a tiny embedded policy saved to disk (no download)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    """A save_pretrained folder of a one-layer char-level model (seconds to build, no download)."""
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    tokenizer = build_tokenizer(kind="char")
    model = build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64,
                                               max_position_embeddings=256), seed=0)
    return save_policy(model, tokenizer, tmp_path_factory.mktemp("tiny") / "base")
