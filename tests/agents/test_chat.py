"""Chat prompts: ChatConfig, ChatPrompter on Llama-3-style and Qwen-style templates, and the
transformers backend rendering the same prompt for complete, propose_steps and search rollouts."""

from __future__ import annotations

import pytest

import torch  # noqa: E402

from agents.base import PolicyConfig, SamplingConfig, complete_states  # noqa: E402
from agents.chat import NO_CHAT, ChatConfig, ChatPrompter, partial_response, render_prompt  # noqa: E402
from astro_env.errors import UserError  # noqa: E402
from astro_env.problem import Problem  # noqa: E402
from astro_env.state import initial_state, transition  # noqa: E402
from tests.chat_tokenizers import chat_tokenizer, spy_policy_class, template_file  # noqa: E402

SpyPolicy = spy_policy_class()

PROMPT = "Problem: What is 1+1?\n\nSolution:\n"


@pytest.fixture(scope="module")
def llama():
    return chat_tokenizer("llama3")


@pytest.fixture(scope="module")
def qwen():
    return chat_tokenizer("qwen")


def test_config_refuses_missing_files_naming_the_flag(tmp_path):
    with pytest.raises(UserError, match="--chat-template nope.jinja: no such file"):
        ChatConfig(template="nope.jinja")
    with pytest.raises(UserError, match="--chat-template is empty"):
        ChatConfig(template="")
    with pytest.raises(UserError, match="--system-prompt sys.txt: no such file"):
        ChatConfig(system_prompt="sys.txt")
    system = tmp_path / "system.txt"
    system.write_text("Think step by step.\n", encoding="utf-8")
    assert ChatConfig(system_prompt=str(system)).system_text == "Think step by step."
    assert ChatConfig(system_prompt="Be brief.").system_text == "Be brief."
    assert ChatConfig(system_prompt="Write the answer to answer.txt").system_text == "Write the answer to answer.txt"


def test_raw_prompts_are_the_tokenizers_own_ids(llama):
    texts = [PROMPT, "Numbers: 3 5 7\nTarget: 26\n\n"]
    for config in (NO_CHAT, None):
        prompter = ChatPrompter(config, llama)
        assert not prompter.active and prompter.render(PROMPT, "x") == PROMPT + "x"
        assert prompter.encode(texts) == [list(ids) for ids in llama(texts)["input_ids"]]
        assert prompter.end_token_id == llama.eos_token_id and prompter.stop_token_ids == frozenset()
        assert prompter.completion_ids("ab") == llama("ab", add_special_tokens=False)["input_ids"] + [llama.eos_token_id]
    # auto on a tokenizer without a template is raw text too
    plain = chat_tokenizer("llama3")
    plain.chat_template = None
    assert not ChatPrompter(ChatConfig(template="auto"), plain).active
    # a system prompt without a template precedes the prompt, after a blank line
    assert ChatPrompter(ChatConfig(system_prompt="Be brief."), llama).render(PROMPT) == "Be brief.\n\n" + PROMPT


def test_llama3_template_renders_once_with_one_bos_and_ends_at_eot(llama):
    prompter = ChatPrompter(ChatConfig(template="auto", system_prompt="Be brief."), llama)
    text = prompter.render(PROMPT)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nProblem: What is 1+1?\n\nSolution:<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    ids = prompter.encode([PROMPT])[0]
    bos, eot = llama.convert_tokens_to_ids(["<|begin_of_text|>", "<|eot_id|>"])
    assert ids[0] == bos and ids.count(bos) == 1  # the template's BOS, none added on top
    assert llama.decode(ids) == text
    assert prompter.end_token_id == eot and prompter.stop_token_ids == frozenset({eot})
    assert prompter.completion_ids("We add.")[-1] == eot
    assert prompter.render(PROMPT, "1+1=2\n\n") == text + "1+1=2\n\n"


def test_qwen_template_keeps_its_default_system_message_and_ends_at_im_end(qwen):
    prompter = ChatPrompter(ChatConfig(template="auto"), qwen)
    assert prompter.render(PROMPT) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nProblem: What is 1+1?\n\nSolution:\n<|im_end|>\n<|im_start|>assistant\n"
    )
    assert ChatPrompter(ChatConfig(template="auto", system_prompt="Be brief."), qwen).render(PROMPT).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    )
    im_end = qwen.convert_tokens_to_ids("<|im_end|>")
    assert prompter.end_token_id == im_end != qwen.eos_token_id  # the end of turn, not the tokenizer's EOS


def test_a_template_file_renders_as_the_tokenizers_own(tmp_path, qwen):
    bare = chat_tokenizer("qwen")
    bare.chat_template = None
    from_file = ChatPrompter(ChatConfig(template=str(template_file(tmp_path, "qwen"))), bare)
    assert from_file.encode([PROMPT]) == ChatPrompter(ChatConfig(template="auto"), qwen).encode([PROMPT])
    assert render_prompt(ChatConfig(template="auto"), qwen, PROMPT) == from_file.render(PROMPT)


def test_a_template_that_fails_names_the_flag(tmp_path, llama):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{{ raise_exception('no system role') }}", encoding="utf-8")
    with pytest.raises(UserError, match=r"--chat-template .*bad.jinja failed to render a prompt"):
        ChatPrompter(ChatConfig(template=str(bad)), llama).render(PROMPT)


# ------------------------------------------------------------------ the transformers backend


def _model(tokenizer):
    from training.embedded import ModelConfig, build_model

    torch.set_num_threads(1)
    return build_model(tokenizer, ModelConfig(hidden_size=32, n_layers=1, n_heads=2, intermediate_size=64), seed=0).eval()


@pytest.mark.parametrize("kind", ["llama3", "qwen"])
def test_transformers_policy_renders_complete_steps_and_rollouts_alike(kind):
    tokenizer = chat_tokenizer(kind)
    chat = ChatConfig(template="auto", system_prompt="Be brief.")
    policy = SpyPolicy(_model(tokenizer), tokenizer, PolicyConfig(chat=chat))
    prompter = ChatPrompter(chat, tokenizer)
    problem = Problem(id="p", problem="What is 1+1?", answer="2")
    root = initial_state(problem, PROMPT)
    child = transition(root, "We add.")
    sampling = SamplingConfig(max_tokens=3, seed=0)
    policy.complete([PROMPT], 1, sampling)
    policy.propose_steps([root, child], 1, sampling)
    complete_states(policy, [child], 1, sampling)
    head = prompter.encode([PROMPT])[0]
    assert policy.seen[0] == head == policy.seen[1]
    assert policy.seen[2] == prompter.encode([PROMPT], ["We add.\n\n"])[0] == policy.seen[3]
    assert policy.seen[2][: len(head)] == head  # the steps continue the assistant's turn
    assert prompter.end_token_id in policy.eos_token_ids


def test_raw_prompts_keep_the_state_text_ids(tiny_model, tiny_tokenizer):
    policy = SpyPolicy(tiny_model, tiny_tokenizer)
    problem = Problem(id="p", problem="Numbers: 3 5 7\nTarget: 26", answer="26", task="countdown")
    child = transition(initial_state(problem, "Numbers: 3 5 7\nTarget: 26\n\n"), "5*7=35")
    sampling = SamplingConfig(max_tokens=2, seed=0)
    policy.propose_steps([child], 1, sampling)
    complete_states(policy, [child], 1, sampling)
    policy.complete([child.text], 1, sampling)
    assert policy.seen == [tiny_tokenizer(child.text)["input_ids"]] * 3
    assert partial_response(child) == "5*7=35\n\n" and child.text == child.prompt + partial_response(child)


def test_mcts_expansions_and_rollouts_see_the_rendered_prompt(qwen):
    from search.mcts import MCTSConfig, mcts_trees

    chat = ChatConfig(template="auto")
    policy = SpyPolicy(_model(qwen), qwen, PolicyConfig(chat=chat))
    problem = Problem(id="p", problem="What is 1+1?", answer="2")
    trees = mcts_trees([problem], policy, MCTSConfig(n_iterations=2, n_children=2, n_rollouts=1, step_max_tokens=4, rollout_max_tokens=4))
    from astro_env import get_task

    head = ChatPrompter(chat, qwen).encode([get_task(problem.task).format_prompt(problem)])[0]
    assert len(trees) == 1 and len(policy.seen) >= 2
    assert all(ids[: len(head)] == head for ids in policy.seen)
    assert any(len(ids) > len(head) for ids in policy.seen)  # rollouts continue a child's steps
