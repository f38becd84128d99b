"""A tiny random-init Llama and BPE tokenizer shared by the agents tests (built once per session)."""

from __future__ import annotations

import pytest

TRAINING_TEXTS = [
    "Numbers: 3 5 7\nTarget: 26\n\n5*7=35\n\n(5*7)-3=32\n\n\\boxed{(5*7)-3}",
    "Problem: What is 1+1?\n\nSolution:\nWe add.\n\nThe answer is \\boxed{2}.",
] * 10


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from training.embedded import build_tokenizer

    return build_tokenizer(TRAINING_TEXTS, vocab_size=256)


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    import torch

    from training.embedded import ModelConfig, build_model

    torch.set_num_threads(1)
    model = build_model(tiny_tokenizer, ModelConfig(hidden_size=64, n_layers=2, n_heads=4, intermediate_size=128), seed=0)
    model.eval()
    return model
