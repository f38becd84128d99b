"""Checkpoints: exact round trip of model, optimizer and RNG; atomic writes; pruning."""

from __future__ import annotations

import json

import pytest

import torch  # noqa: E402

from training.checkpoint import (  # noqa: E402
    TrainerState,
    checkpoint_dir,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
)
from training.embedded import ModelConfig, build_model, build_tokenizer  # noqa: E402

TINY = ModelConfig(hidden_size=16, n_layers=1, n_heads=2, intermediate_size=32, max_position_embeddings=64)


def _trained_pair(seed=0):
    torch.set_num_threads(1)
    tok = build_tokenizer(kind="char")
    model = build_model(tok, TINY, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.tensor([tok("1+2=3\n\n")["input_ids"]])
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    opt.zero_grad()
    return tok, model, opt, ids


def test_round_trip_restores_model_optimizer_and_rng(tmp_path):
    from transformers import AutoModelForCausalLM

    tok, model, opt, ids = _trained_pair()
    state = TrainerState(step=7, data_position=21, metrics={"sft/loss": 1.5})
    path = save_checkpoint(tmp_path, state, model, tok, opt)
    assert path == checkpoint_dir(tmp_path, 7) and path.name == "step-00000007"
    expected_draw = torch.rand(3)  # the draw right after the save

    restored = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    opt2 = torch.optim.AdamW(restored.parameters(), lr=1e-2)
    torch.rand(100)  # disturb the generator
    loaded = load_checkpoint(path, optimizer=opt2)
    assert loaded == state
    assert torch.equal(torch.rand(3), expected_draw)
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k]["exp_avg"], s2[k]["exp_avg"]) and torch.equal(s1[k]["exp_avg_sq"], s2[k]["exp_avg_sq"])
    # one more identical step from both gives identical weights
    for m, o in ((model, opt), (restored, opt2)):
        m(input_ids=ids, labels=ids).loss.backward()
        o.step()
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)


def test_keep_last_prunes_and_latest_ignores_incomplete(tmp_path):
    tok, model, opt, _ = _trained_pair()
    for step in (2, 4, 6):
        save_checkpoint(tmp_path, TrainerState(step, step * 3), model, tok, opt, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004", "step-00000006"]
    # a crash mid-save: a temporary dir, and a final-looking dir without its state file
    (tmp_path / ".tmp-step-00000008").mkdir()
    (tmp_path / "step-00000010").mkdir()
    assert latest_checkpoint(tmp_path).name == "step-00000006"
    assert remove_stale_temporaries(tmp_path) == 1
    assert json.loads((latest_checkpoint(tmp_path) / "trainer_state.json").read_text())["data_position"] == 18


def test_missing_and_invalid(tmp_path):
    assert latest_checkpoint(tmp_path / "nothing") is None
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match=">= 0"):
        TrainerState(step=-1, data_position=0)


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.pt", "trainer_state.json"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, damaged):
    from training.checkpoint import check_checkpoint, latest_loadable_checkpoint

    tok, model, opt, _ = _trained_pair()
    for step in (2, 4):
        save_checkpoint(tmp_path, TrainerState(step, step), model, tok, opt, keep_last=0)
    newest = tmp_path / "step-00000004"
    data = (newest / damaged).read_bytes()
    (newest / damaged).write_bytes(data[: len(data) // 2])  # cut off, as by a full disk
    warnings = []
    assert latest_loadable_checkpoint(tmp_path, warn=warnings.append).name == "step-00000002"
    assert len(warnings) == 1 and damaged in warnings[0] and "step-00000002" in warnings[0]
    with pytest.raises(ValueError, match=damaged):
        check_checkpoint(newest)
    check_checkpoint(tmp_path / "step-00000002")
    # both damaged: nothing to resume, said once per checkpoint
    older = tmp_path / "step-00000002" / damaged
    older.write_bytes(older.read_bytes()[:10])
    warnings.clear()
    assert latest_loadable_checkpoint(tmp_path, warn=warnings.append) is None
    assert len(warnings) == 2 and "starting from the beginning" in warnings[1]


def test_model_fingerprint_follows_weights_and_config(tmp_path):
    from training.checkpoint import model_fingerprint

    tok, model, opt, _ = _trained_pair()
    model.save_pretrained(tmp_path / "a")
    model.save_pretrained(tmp_path / "b")
    assert model_fingerprint(str(tmp_path / "a")) == model_fingerprint(str(tmp_path / "b"))
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    model.save_pretrained(tmp_path / "b")
    assert model_fingerprint(str(tmp_path / "a")) != model_fingerprint(str(tmp_path / "b"))
    assert model_fingerprint("org/name") != model_fingerprint("org/other")
