"""One rendered prompt across the stages: a tiny model SFT'd under a Llama-3-style or a Qwen-style
chat template, then evaluated and GRPO-trained, is given exactly the prompt tokens its SFT
examples had; `none` keeps the raw prompts' ids."""

from __future__ import annotations

import importlib.util
import json

import pytest

import torch  # noqa: E402

from agents.base import PolicyConfig  # noqa: E402
from agents.chat import NO_CHAT, ChatConfig, ChatPrompter  # noqa: E402
from astro_env import get_task  # noqa: E402
from astro_env.loaders import write_problems  # noqa: E402
from astro_env.problem import Problem  # noqa: E402
from search.trace import Trace  # noqa: E402
from tests.chat_tokenizers import TEXTS, chat_tokenizer, spy_policy_class, template_file  # noqa: E402
from astro.commands import grpo as grpo_command, sft as sft_command  # noqa: E402
from training import grpo, sft  # noqa: E402
from training.data import tokenize_traces  # noqa: E402
from training.embedded import ModelConfig, build_model, save_policy  # noqa: E402

TINY = ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64, max_position_embeddings=512)


def _problems(n: int = 6) -> list[Problem]:
    return [Problem(id=f"add/{a}", problem=f"What is {a}+{a + 1}?", answer=str(2 * a + 1), task="math") for a in range(1, n + 1)]


def _write_traces(path, problems) -> None:
    task = get_task("math")
    with path.open("w", encoding="utf-8") as fh:
        for p in problems:
            a = int(p.id.split("/")[1])
            completion = f"{a}+{a + 1}={2 * a + 1}\n\n\\boxed{{{2 * a + 1}}}"
            fh.write(json.dumps(Trace(problem_id=p.id, arm="direct", prompt=task.format_prompt(p), completion=completion).to_dict()) + "\n")


@pytest.mark.parametrize("kind", ["llama3", "qwen"])
def test_sft_evaluation_and_grpo_see_the_same_prompt_tokens(kind, tmp_path, monkeypatch):
    from benchmarks.evaluate import EvalConfig, evaluate

    torch.set_num_threads(1)
    problems = _problems()
    tokenizer = chat_tokenizer(kind, texts=TEXTS + [get_task("math").format_prompt(p) for p in problems])
    tokenizer.chat_template = None  # the base carries no template: SFT is given the file and saves it
    base = save_policy(build_model(tokenizer, TINY, seed=0), tokenizer, tmp_path / "base")
    _write_traces(tmp_path / "traces.jsonl", problems)
    write_problems(problems, tmp_path / "problems.jsonl")
    template = template_file(tmp_path, kind)

    examples = []
    real_tokenize = sft.tokenize_traces

    def spy_tokenize(*args, **kwargs):
        out = real_tokenize(*args, **kwargs)
        examples.extend(out[0])
        return out

    monkeypatch.setattr(sft, "tokenize_traces", spy_tokenize)
    sft_out = tmp_path / "sft"
    assert sft_command.main(["--traces", str(tmp_path / "traces.jsonl"), "--model", str(base), "--out", str(sft_out),
                     "--chat-template", str(template), "--system-prompt", "Answer in a box.", "--max-steps", "2",
                     "--batch-size", "3", "--lr", "3e-3", "--save-every", "0", "--log-every", "0", "--report-to", "none",
                     "--mixed-precision", "no"]) == 0
    sft_prompts = {tuple(e.input_ids[: e.n_prompt_tokens]) for e in examples}
    assert len(examples) == len(problems) and len(sft_prompts) == len(problems)

    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(sft_out)
    assert saved.chat_template == template.read_text(encoding="utf-8")  # `auto` finds it from now on
    chat = ChatConfig(template="auto", system_prompt="Answer in a box.")
    prompter = ChatPrompter(chat, saved)
    end = saved.convert_tokens_to_ids("<|eot_id|>" if kind == "llama3" else "<|im_end|>")
    assert prompter.end_token_id == end and all(e.input_ids[-1] == end for e in examples)  # each ends its turn

    # evaluation of the SFT model, rendered with its own (saved) template
    policy = spy_policy_class().from_pretrained(str(sft_out), PolicyConfig(device="cpu", chat=chat))
    evaluate(policy, problems, EvalConfig(samples=1, max_tokens=4, temperature=0.0, benches=("add",), batch_size=3), tmp_path / "eval", "add")
    assert {tuple(ids) for ids in policy.seen} == sft_prompts

    # GRPO rollouts of the SFT model (CLI flags), the in-house engine
    rollouts = []
    real_collect = grpo.collect_rollouts

    def spy_collect(*args, **kwargs):
        out = real_collect(*args, **kwargs)
        rollouts.extend(out)
        return out

    monkeypatch.setattr(grpo, "collect_rollouts", spy_collect)
    grpo_out = tmp_path / "grpo"
    assert grpo_command.main(["--model", str(sft_out), "--problems", str(tmp_path / "problems.jsonl"), "--out", str(grpo_out),
                      "--chat-template", "auto", "--system-prompt", "Answer in a box.", "--n-steps", "1",
                      "--group-size", "2", "--prompts-per-step", "3", "--max-new-tokens", "4", "--pass-rate-samples", "0",
                      "--save-every", "0", "--report-to", "none", "--threads", "1"]) == 0
    assert len(rollouts) == 6 and {r.prompt_token_ids for r in rollouts} <= sft_prompts
    by_prompt = {r.prompt: r.prompt_token_ids for r in rollouts}
    assert all(by_prompt[p] == tuple(prompter.encode([p])[0]) for p in by_prompt)
    assert AutoTokenizer.from_pretrained(grpo_out).chat_template == saved.chat_template


def test_none_keeps_the_raw_prompt_ids(tmp_path):
    from agents.hf import TransformersPolicy
    from training.rollout import RolloutConfig, collect_rollouts

    torch.set_num_threads(1)
    tokenizer = chat_tokenizer("llama3")  # a template is there, and `none` ignores it
    problems = _problems(2)
    prompts = [get_task("math").format_prompt(p) for p in problems]
    traces = [Trace(problem_id=p.id, arm="direct", prompt=q, completion="x\n\n\\boxed{1}") for p, q in zip(problems, prompts)]
    legacy, _ = tokenize_traces(traces, tokenizer, 512)
    assert tokenize_traces(traces, tokenizer, 512, prompter=ChatPrompter(NO_CHAT, tokenizer))[0] == legacy
    assert [list(e.input_ids[: e.n_prompt_tokens]) for e in legacy] == [tokenizer(q)["input_ids"] for q in prompts]
    assert all(e.input_ids[-1] == tokenizer.eos_token_id for e in legacy)
    policy = TransformersPolicy(build_model(tokenizer, TINY, seed=0).eval(), tokenizer)
    assert policy.eos_token_ids == frozenset({tokenizer.eos_token_id})
    rollouts = collect_rollouts(policy, tokenizer, problems, RolloutConfig(n_samples=2, max_new_tokens=3, seed=0))
    assert [r.prompt_token_ids for r in rollouts[::2]] == [tuple(tokenizer(q)["input_ids"]) for q in prompts]


@pytest.mark.trl
@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install 'astro-gym[trl]')")
@pytest.mark.parametrize("kind", ["llama3", "qwen"])
def test_trl_rollouts_see_the_rendered_prompt_and_stop_at_the_end_of_turn(kind, tmp_path, monkeypatch):
    import trl

    torch.set_num_threads(1)
    problems = _problems(4)
    tokenizer = chat_tokenizer(kind, texts=TEXTS + [get_task("math").format_prompt(p) for p in problems])
    base = save_policy(build_model(tokenizer, TINY, seed=0), tokenizer, tmp_path / "base")
    write_problems(problems, tmp_path / "problems.jsonl")
    seen, completions = [], []
    real_tokenize = trl.GRPOTrainer._tokenize_prompts

    def spy_tokenize(self, prompts):
        out = real_tokenize(self, prompts)
        seen.extend(tuple(ids) for ids in out[0])
        return out

    monkeypatch.setattr(trl.GRPOTrainer, "_tokenize_prompts", spy_tokenize)
    from training import grpo_trl

    real_call = grpo_trl.EnvironmentReward.__call__

    def spy_reward(self, **kw):
        completions.extend(kw["completions"])
        return real_call(self, **kw)

    monkeypatch.setattr(grpo_trl.EnvironmentReward, "__call__", spy_reward)
    out = tmp_path / "trl"
    assert grpo_command.main(["--engine", "trl", "--model", str(base), "--problems", str(tmp_path / "problems.jsonl"), "--out", str(out),
                      "--chat-template", "auto", "--system-prompt", "Answer in a box.", "--n-steps", "1", "--group-size", "2",
                      "--prompts-per-step", "2", "--max-new-tokens", "4", "--pass-rate-samples", "0", "--save-every", "0",
                      "--report-to", "none", "--threads", "1"]) == 0
    prompter = ChatPrompter(ChatConfig(template="auto", system_prompt="Answer in a box."), tokenizer)
    wanted = {tuple(prompter.encode([get_task("math").format_prompt(p)])[0]) for p in problems}
    assert seen and set(seen) <= wanted
    assert completions and all(isinstance(c, list) and c[0]["role"] == "assistant" for c in completions)
    from transformers import AutoModelForCausalLM

    eos = AutoModelForCausalLM.from_pretrained(out).generation_config.eos_token_id
    assert prompter.end_token_id in (eos if isinstance(eos, list) else [eos])
