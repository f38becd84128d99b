"""SFT: masking, data order, schedule, loss goes down, resume equivalence, NaN stop, CLI, bench smoke."""

from __future__ import annotations

import json
import random

import pytest

import torch  # noqa: E402

from astro_env.errors import UserError  # noqa: E402
from search.trace import Trace  # noqa: E402
from training import sft  # noqa: E402
from training.checkpoint import list_checkpoints  # noqa: E402
from training.data import (  # noqa: E402
    IGNORE_INDEX,
    TokenizedExample,
    batch_plan,
    collate,
    example_labels,
    pack_examples,
    tokenize_example,
    tokenize_traces,
)
from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy  # noqa: E402
from training.sft import NonFiniteLossError, SFTConfig, cosine_lr, lm_loss, train_sft  # noqa: E402

TINY = ModelConfig(hidden_size=32, n_layers=2, n_heads=2, intermediate_size=64, max_position_embeddings=256)


def _pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        out.append((f"Numbers: {a} {b}\nTarget: {a + b}\n\n", f"{a}+{b}={a + b}\n\n\\boxed{{{a}+{b}}}"))
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("sft")
    pairs = _pairs(48)
    traces = root / "traces.jsonl"
    with traces.open("w") as fh:
        for i, (p, c) in enumerate(pairs):
            fh.write(json.dumps(Trace(problem_id=f"t/{i}", arm="direct", prompt=p, completion=c).to_dict()) + "\n")
    tokenizer = build_tokenizer([p + c for p, c in pairs], vocab_size=128)
    model = build_model(tokenizer, TINY, seed=0)
    base = save_policy(model, tokenizer, root / "base")
    return {"root": root, "traces": traces, "base": base, "tokenizer": tokenizer}


def _config(ws, out, **kw) -> SFTConfig:
    defaults = dict(
        traces=str(ws["traces"]), model=str(ws["base"]), out=str(out), batch_size=8, lr=3e-3,
        save_every=0, log_every=0, report_to="none", mixed_precision="no",
    )
    return SFTConfig(**(defaults | kw))


def _weights(path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _mean_loss(path, ws) -> float:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    examples, _ = tokenize_traces(
        [Trace(problem_id="x", arm="direct", prompt=p, completion=c) for p, c in _pairs(48)], tokenizer, 256
    )
    batch = collate(examples, tokenizer.pad_token_id)
    with torch.no_grad():
        total, n = lm_loss(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, batch["labels"])
    return total.item() / n


# ---------------------------------------------------------------- data: tokens, masks, order


def test_completion_only_masks_exactly_the_prompt(workspace):
    tok = workspace["tokenizer"]
    prompt, completion = _pairs(1)[0]
    example = tokenize_example(tok, prompt, completion)
    n_prompt = len(tok(prompt)["input_ids"])
    assert example.n_prompt_tokens == n_prompt
    assert example.input_ids[-1] == tok.eos_token_id
    assert tok.decode(example.input_ids[:-1]) == prompt + completion
    other = tokenize_example(tok, "Numbers: 1\nTarget: 1\n\n", "\\boxed{1}")
    batch = collate([example, other], tok.pad_token_id, loss_on="completion")
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    assert (labels[:n_prompt] == IGNORE_INDEX).all()
    assert torch.equal(labels[n_prompt : len(example.input_ids)], ids[n_prompt : len(example.input_ids)])
    # padding of the shorter row is masked and ignored
    n_other = len(other.input_ids)
    assert (batch["labels"][1][n_other:] == IGNORE_INDEX).all() and batch["attention_mask"][1][n_other:].sum() == 0
    everything = collate([example], tok.pad_token_id, loss_on="all")
    assert torch.equal(everything["labels"][0], everything["input_ids"][0]) and everything["attention_mask"] is None


def test_masked_spans_keep_their_tokens_out_of_the_loss_and_the_ids_unchanged(workspace):
    tok = workspace["tokenizer"]
    prompt = "Numbers: 3 4\nTarget: 7\n\n"
    wrong, right = "3*4=12", "3+4=7"
    completion = f"{wrong}\n\nThat is not it.\n\n{right}\n\n\\boxed{{3+4}}"
    plain = tokenize_example(tok, prompt, completion)
    masked = tokenize_example(tok, prompt, completion, masked_spans=[(0, len(wrong))])
    assert masked.input_ids == plain.input_ids and masked.n_prompt_tokens == plain.n_prompt_tokens and not plain.ignored
    assert tok.decode([masked.input_ids[i] for i in masked.ignored]).strip() == wrong
    labels = example_labels(masked, "completion")
    assert [i for i, label in enumerate(labels) if label == IGNORE_INDEX and i >= masked.n_prompt_tokens] == list(masked.ignored)
    kept = tok.decode([t for t in labels if t != IGNORE_INDEX])
    assert wrong not in kept and right in kept and "That is not it." in kept
    # a truncated example keeps only the ignored positions it still has
    trace = Trace(problem_id="m", arm="astro", prompt=prompt, completion=completion, masked_spans=((0, len(wrong)),))
    (cut,), stats = tokenize_traces([trace], tok, max_length=masked.n_prompt_tokens + 2, overflow="truncate")
    assert stats.n_truncated == 1 and cut.ignored == tuple(i for i in masked.ignored if i < len(cut.input_ids))


def test_masked_spans_need_a_fast_tokenizer():
    class Slow:
        is_fast = False
        eos_token_id = 0

        def __call__(self, text, add_special_tokens=False, **kw):
            return {"input_ids": [ord(c) for c in text]}

    with pytest.raises(UserError, match="fast tokenizer"):
        tokenize_example(Slow(), "P", "abc", masked_spans=[(0, 1)])


def test_packing_keeps_masks_and_drops_the_partial_block():
    a, b = TokenizedExample((1, 2, 3, 9), 2), TokenizedExample((4, 5, 9), 1)
    ids, labels = pack_examples([a, b], [1, 0], seq_len=3, loss_on="completion")
    assert ids.tolist() == [[4, 5, 9], [1, 2, 3]]  # b then a; the 7th token (9) is dropped
    assert labels.tolist() == [[-100, 5, 9], [-100, -100, 3]]


def test_overflow_is_dropped_or_truncated_and_counted(workspace):
    tok = workspace["tokenizer"]
    traces = [Trace(problem_id=str(i), arm="direct", prompt=p, completion=c) for i, (p, c) in enumerate(_pairs(5))]
    traces.append(Trace(problem_id="long", arm="direct", prompt="Numbers: 1\n\n", completion="1+1=2\n\n" * 40))
    kept, stats = tokenize_traces(traces, tok, max_length=64, overflow="drop")
    assert (stats.n_examples, stats.n_dropped, stats.n_truncated) == (5, 1, 0) and len(kept) == 5
    kept, stats = tokenize_traces(traces, tok, max_length=64, overflow="truncate")
    assert (stats.n_examples, stats.n_dropped, stats.n_truncated) == (6, 0, 1)
    assert max(len(e.input_ids) for e in kept) == 64


def test_batch_plan_is_seeded_and_covers_each_epoch():
    plan = batch_plan(10, 4, n_epochs=2, seed=3)
    assert plan == batch_plan(10, 4, n_epochs=2, seed=3)
    assert plan != batch_plan(10, 4, n_epochs=2, seed=4)
    assert [len(b) for b in plan] == [4, 4, 2, 4, 4, 2]
    assert sorted(sum(plan[:3], [])) == list(range(10)) == sorted(sum(plan[3:], []))
    assert sum(plan[:3], []) != sum(plan[3:], [])  # a fresh permutation per epoch


def test_cosine_schedule_hand_values():
    assert cosine_lr(0, 10, 2, 1.0) == 0.5
    assert cosine_lr(1, 10, 2, 1.0) == 1.0
    assert cosine_lr(2, 10, 2, 1.0) == 1.0  # start of decay
    assert cosine_lr(6, 10, 2, 1.0) == pytest.approx(0.5)  # halfway through the decay
    assert cosine_lr(10, 10, 2, 1.0, min_lr_ratio=0.1) == pytest.approx(0.1)


def test_lm_loss_hand_value():
    logits = torch.zeros(1, 3, 4)  # uniform over 4 tokens: each scored token costs ln 4
    labels = torch.tensor([[0, 1, IGNORE_INDEX]])
    total, n = lm_loss(logits, labels)
    assert n == 1 and total.item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


def test_config_validation_names_the_fix():
    with pytest.raises(ValueError, match="loss_on"):
        SFTConfig(traces="t", model="m", out="o", loss_on="prompt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        SFTConfig(traces="t", model="m", out="o", batch_size=0)


# ---------------------------------------------------------------- training


def test_sft_lowers_the_loss_and_saves_a_loadable_model(workspace, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    before = _mean_loss(workspace["base"], workspace)
    out = train_sft(_config(workspace, tmp_path / "out", n_epochs=4, log_every=2, report_to="tensorboard"))
    after = _mean_loss(out, workspace)
    assert after < before - 0.5, (before, after)
    assert AutoModelForCausalLM.from_pretrained(out) is not None and AutoTokenizer.from_pretrained(out) is not None
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["n_steps"] == 4 * 6 and summary["n_examples"] == 48 and summary["tokens_per_s"] > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    assert {"sft/loss", "sft/lr", "sft/tokens_per_s"} <= set(events.Tags()["scalars"])
    losses = [e.value for e in events.Scalars("sft/loss")]
    assert losses[-1] < losses[0]


def test_completion_only_training_ignores_prompt_tokens(workspace, tmp_path):
    out = train_sft(_config(workspace, tmp_path / "c", loss_on="completion", max_steps=2))
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["n_steps"] == 2


def test_killed_run_resumes_to_the_same_weights(workspace, tmp_path, monkeypatch):
    kw = dict(n_epochs=2, batch_size=8, grad_accum=2, save_every=2)  # 12 micro-batches -> 6 steps
    ref = train_sft(_config(workspace, tmp_path / "ref", **kw))

    def kill(step):
        if step == 3:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(sft, "_step_hook", kill)
    with pytest.raises(KeyboardInterrupt):
        train_sft(_config(workspace, tmp_path / "run", **kw))
    assert [p.name for p in list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-00000002"]
    monkeypatch.setattr(sft, "_step_hook", lambda step: None)
    resumed = train_sft(_config(workspace, tmp_path / "run", **kw))
    summary = json.loads((resumed / "sft_summary.json").read_text())
    assert summary["resumed_from"].endswith("step-00000002") and summary["n_steps"] == 6
    a, b = _weights(ref), _weights(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run diverged from the uninterrupted one"


def test_resume_refuses_a_different_config(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(sft, "_step_hook", lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 3 else None)
    with pytest.raises(KeyboardInterrupt):
        train_sft(_config(workspace, tmp_path / "o", save_every=2))
    monkeypatch.setattr(sft, "_step_hook", lambda step: None)
    with pytest.raises(ValueError, match="different settings"):
        train_sft(_config(workspace, tmp_path / "o", save_every=2, lr=1e-2))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(workspace, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = sft.lm_loss

    def poisoned(logits, labels):
        calls["n"] += 1
        total, n = real(logits, labels)
        return (total * float("nan") if calls["n"] == 4 else total), n

    monkeypatch.setattr(sft, "lm_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match="step-00000002"):
        train_sft(_config(workspace, tmp_path / "nan", save_every=2))
    kept = list_checkpoints(tmp_path / "nan" / "checkpoints")
    assert [p.name for p in kept] == ["step-00000002"]
    weights = _weights(kept[-1])
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_cli_main(workspace, tmp_path, capsys):
    from astro.commands import sft as sft_command

    rc = sft_command.main(["--traces", str(workspace["traces"]), "--model", str(workspace["base"]), "--out", str(tmp_path / "cli"),
                   "--max-steps", "1", "--loss-on", "completion", "--report-to", "none", "--mixed-precision", "no"])
    assert rc == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(line)["n_steps"] == 1


@pytest.mark.slow
def test_bench_sft_smoke(capsys):
    from benchmarks import bench_sft

    assert bench_sft.main(["--steps", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] == 2 and result["tokens_per_s"] > 0


@pytest.mark.slow
def test_bench_sft_vs_trl_runs(capsys):
    pytest.importorskip("trl")
    from benchmarks import bench_sft

    assert bench_sft.main(["--steps", "3", "--json", "--vs-trl"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ratio_vs_trl"] > 0 and result["trl_tokens_per_s"] > 0


def _kill_at_step_3(monkeypatch):
    monkeypatch.setattr(sft, "_step_hook", lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 3 else None)


def test_resume_refuses_rewritten_traces_and_no_resume_starts_over(workspace, tmp_path, monkeypatch):
    traces = tmp_path / "traces.jsonl"
    traces.write_bytes(workspace["traces"].read_bytes())
    _kill_at_step_3(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train_sft(_config(workspace, tmp_path / "o", traces=str(traces), save_every=2))
    monkeypatch.setattr(sft, "_step_hook", lambda step: None)
    lines = traces.read_text().splitlines(keepends=True)
    traces.write_text("".join(reversed(lines)))  # same path, other content
    with pytest.raises(ValueError, match=r"cannot be resumed: the traces file changed .*--no-resume") as info:
        train_sft(_config(workspace, tmp_path / "o", traces=str(traces), save_every=2))
    assert "\n" not in str(info.value)
    out = train_sft(_config(workspace, tmp_path / "o", traces=str(traces), save_every=2, resume=False))
    assert json.loads((out / "sft_summary.json").read_text())["resumed_from"] is None
    saved = json.loads((list_checkpoints(out / "checkpoints")[-1] / "sft_inputs.json").read_text())
    from astro_env.loaders import file_sha256

    assert saved["traces_sha256"] == file_sha256(traces)


def test_resume_skips_a_damaged_newest_checkpoint(workspace, tmp_path, monkeypatch, capsys):
    kw = dict(n_epochs=2, batch_size=8, grad_accum=1, save_every=2, keep_last=0)  # 12 steps
    ref = train_sft(_config(workspace, tmp_path / "ref", **kw))
    monkeypatch.setattr(sft, "_step_hook", lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 5 else None)
    with pytest.raises(KeyboardInterrupt):
        train_sft(_config(workspace, tmp_path / "run", **kw))
    monkeypatch.setattr(sft, "_step_hook", lambda step: None)
    newest = list_checkpoints(tmp_path / "run" / "checkpoints")[-1]
    assert newest.name == "step-00000004"
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    resumed = train_sft(_config(workspace, tmp_path / "run", **kw))
    assert json.loads((resumed / "sft_summary.json").read_text())["resumed_from"].endswith("step-00000002")
    assert "checkpoint step-00000004 is damaged" in capsys.readouterr().err
    a, b = _weights(ref), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_traces_and_model_fail_before_anything_is_written(workspace, tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text('{"id": "a", "problem": "1+1?", "answer": "2"}\n')
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    cases = [
        (dict(traces=str(problems)), "problems.jsonl:1: this is a problems file .*astro linearize"),
        (dict(traces=str(junk)), "junk.jsonl:1: not UTF-8"),
        (dict(traces=str(tmp_path / "missing.jsonl")), "does not exist; write one with `astro linearize`"),
        (dict(model=str(tmp_path / "no" / "model")), "--model .*no such directory"),
    ]
    for kw, match in cases:
        out = tmp_path / "out"
        with pytest.raises(ValueError, match=match) as info:
            train_sft(_config(workspace, out, **kw))
        assert "\n" not in str(info.value)
        assert not out.exists()
