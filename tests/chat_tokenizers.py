"""Local tokenizers with a Llama-3-style and a Qwen-style chat template (no download).

The templates follow the shape of the published ones (special header tokens, BOS written by
the template, `trim`med content, an end-of-turn token after every message; Qwen's default
system message), so the tests see what an instruct checkpoint's tokenizer does.
"""

from __future__ import annotations

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")

QWEN_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>")

TEXTS = [
    "Numbers: 3 5 7\nTarget: 26\n\n5*7=35\n\n(5*7)-3=32\n\n\\boxed{(5*7)-3}",
    "Problem: What is 1+1?\n\nSolution:\nWe add.\n\nThe answer is \\boxed{2}.",
    "system user assistant You are a helpful assistant. Think step by step.",
] * 10


def chat_tokenizer(kind: str, texts=TEXTS, vocab_size: int = 256):
    """A `training.embedded.build_tokenizer` BPE tokenizer with `kind`'s ("llama3" or "qwen") special
    tokens and `chat_template`. Llama's BOS is `<|begin_of_text|>`, added to every encoding as
    Llama 3's tokenizer does (so a rendered prompt tokenised with special tokens would hold two);
    Qwen adds none and its EOS stays `</s>` (its end of turn, `<|im_end|>`, comes from the template)."""
    from tokenizers import processors

    from training.embedded import build_tokenizer

    tokenizer = build_tokenizer(texts, vocab_size=vocab_size)
    specials, template = {"llama3": (LLAMA3_SPECIALS, LLAMA3_TEMPLATE), "qwen": (QWEN_SPECIALS, QWEN_TEMPLATE)}[kind]
    tokenizer.add_special_tokens({"additional_special_tokens": list(specials)})
    if kind == "llama3":
        tokenizer.bos_token = "<|begin_of_text|>"
        bos = tokenizer.bos_token_id
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B", special_tokens=[("<|begin_of_text|>", bos)]
        )
    tokenizer.chat_template = template
    return tokenizer


def template_file(tmp_path, kind: str):
    """The template of `kind` written to a file (what `--chat-template FILE` reads)."""
    path = tmp_path / f"{kind}.jinja"
    path.write_text({"llama3": LLAMA3_TEMPLATE, "qwen": QWEN_TEMPLATE}[kind], encoding="utf-8")
    return path


def spy_policy_class():
    """`TransformersPolicy` recording the prompt ids every generation is given (`.seen`)."""
    from agents.hf import TransformersPolicy

    class SpyPolicy(TransformersPolicy):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen: list[list[int]] = []

        def complete_ids(self, prompt_ids, n, sampling=None):
            self.seen += [list(p) for p in prompt_ids]
            return super().complete_ids(prompt_ids, n, sampling)

    return SpyPolicy
