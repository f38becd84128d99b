"""Chat prompts: how a task prompt becomes the text and the tokens a model is given.

Instruct checkpoints are trained inside a chat template; prompted outside it they answer
worse and stop in the wrong place. `ChatConfig` says which template (the tokenizer's own,
none, or a Jinja file) and which system prompt; `ChatPrompter` applies it for one tokenizer.
Every stage renders through it, so search, SFT, GRPO rollouts and evaluation give a model the
same tokens for the same problem:

- a task prompt becomes the system message (if any) and the user message, followed by the
  template's generation prompt (the opening of the assistant turn);
- the steps written so far follow as the assistant's partial turn, as plain text
  (`render(prompt, response)` is `render(prompt) + response`) tokenised apart from the prompt,
  so a search state's ids start with exactly the ids an SFT example's prompt has;
- rendered text is tokenised without the tokenizer's own special prefix (the template writes
  its BOS itself), and a completion ends with the template's end-of-turn token (e.g.
  `<|eot_id|>`, `<|im_end|>`), found by rendering a one-message assistant turn;
- `template="none"` (the default) keeps the raw task prompt, tokenised with the tokenizer's
  default special tokens, and ends completions with EOS.
  A system prompt without a template is prepended to the task prompt, followed by a blank line.

Commands parse it as the `chat` field of their config (`--chat.template`, `--chat.system-prompt`; the
short flags `--chat-template` and `--system-prompt` name the same fields): a run holds one
`ChatConfig` and hands it to every stage. This module imports no torch;
`ChatPrompter` needs a transformers tokenizer (jinja2 renders).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence


from astro_env.errors import UserError

TEMPLATE_NAMES = ("auto", "none")
"""The named `ChatConfig.template` values; anything else is a Jinja file."""

_PATH_SUFFIXES = (".txt", ".md", ".j2", ".jinja", ".jinja2", ".tmpl")
_RESPONSE_MARK = "ASTRORESPONSEMARK"


def _looks_like_path(value: str) -> bool:
    """True for a one-word value ending like a text file (`prompts/system.txt`), not for a sentence."""
    return not any(c.isspace() for c in value.strip()) and value.strip().lower().endswith(_PATH_SUFFIXES)


@dataclass(frozen=True)
class ChatConfig:
    """Which chat template and system prompt every stage renders task prompts with."""

    template: str = "none"
    """auto (the tokenizer's own chat template when it has one, else none), none (the task prompt as raw
    text, ended by EOS), or a Jinja chat-template file (e.g. the `chat_template` of an instruct checkpoint)."""
    system_prompt: str = ""
    """System message: text, or a file holding it (a value naming an existing file is read). Empty: none."""

    def __post_init__(self) -> None:
        if not self.template:
            raise UserError("--chat-template is empty: use auto, none, or a Jinja chat-template file.")
        if self.template not in TEMPLATE_NAMES and not Path(self.template).is_file():
            raise UserError(
                f"--chat-template {self.template}: no such file; use auto (the tokenizer's own template), "
                "none (raw prompts), or the path of a Jinja chat-template file."
            )
        if self.system_prompt and _looks_like_path(self.system_prompt) and not Path(self.system_prompt).is_file():
            raise UserError(f"--system-prompt {self.system_prompt}: no such file; pass the system prompt's text or an existing file.")

    @property
    def template_source(self) -> str | None:
        """The Jinja source of a template file, None for auto and none."""
        if self.template in TEMPLATE_NAMES:
            return None
        return Path(self.template).read_text(encoding="utf-8")

    @property
    def system_text(self) -> str:
        """The system prompt's text (a file's content when `system_prompt` names one)."""
        value = self.system_prompt
        if value and "\n" not in value and Path(value).is_file():
            return Path(value).read_text(encoding="utf-8").strip()
        return value


NO_CHAT = ChatConfig()
"""Raw prompts (the default)."""


def end_of_turn_id(tokenizer: Any, template: str) -> int | None:
    """The token id that closes an assistant turn in `template`, or None when it closes with no
    special or added token (the caller then ends completions with EOS).

    Found by rendering one user message and one assistant message and reading the first token
    after the assistant's text: `<|eot_id|>` for Llama 3, `<|im_end|>` for Qwen.
    """
    messages = [{"role": "user", "content": "u"}, {"role": "assistant", "content": _RESPONSE_MARK}]
    try:
        text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    except Exception:  # a template that cannot render an assistant turn: completions end with EOS
        return None
    at = text.rfind(_RESPONSE_MARK)
    if at < 0:
        return None
    suffix = text[at + len(_RESPONSE_MARK) :]
    ids = tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []
    if not ids:
        return None
    special = set(getattr(tokenizer, "all_special_ids", ())) | set(tokenizer.get_added_vocab().values())
    return int(ids[0]) if ids[0] in special else None


class ChatPrompter:
    """`ChatConfig` applied to one tokenizer: rendered prompt text, its token ids, the completion's end token.

    `template` is the Jinja source in use (None: raw prompts), `end_token_id` the token a
    completion ends with (the template's end-of-turn token, else the tokenizer's EOS) and
    `stop_token_ids` the tokens generation must stop at besides the model's own EOS ids
    (the end-of-turn token when a template is in use; empty for raw prompts).
    A template that fails to render raises `UserError` naming `--chat-template`.
    """

    def __init__(self, config: ChatConfig | None, tokenizer: Any) -> None:
        self.config = config if config is not None else NO_CHAT
        self.tokenizer = tokenizer
        template = self.config.template_source
        if self.config.template == "auto":
            template = getattr(tokenizer, "chat_template", None) or None
            if isinstance(template, dict):  # several named templates: the default one
                template = template.get("default") or next(iter(template.values()), None)
        self.template: str | None = template
        self.system = self.config.system_text
        eos = getattr(tokenizer, "eos_token_id", None)
        turn_end = end_of_turn_id(tokenizer, template) if template is not None else None
        self.end_token_id: int | None = turn_end if turn_end is not None else (None if eos is None else int(eos))
        self.stop_token_ids: frozenset[int] = frozenset([turn_end]) if turn_end is not None else frozenset()

    @property
    def active(self) -> bool:
        """True when a chat template renders the prompts."""
        return self.template is not None

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The conversation a task prompt becomes: the system message (if any), then the user message."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + [{"role": "user", "content": prompt}]

    def render(self, prompt: str, response: str = "") -> str:
        """The text a model continues: the rendered conversation and generation prompt, then `response`
        (the assistant's partial turn, e.g. the steps so far). Raw prompts: `prompt + response`
        (after the system prompt and a blank line, when there is one)."""
        if self.template is None:
            head = f"{self.system}\n\n" if self.system else ""
            return head + prompt + response
        try:
            text = self.tokenizer.apply_chat_template(
                self.messages(prompt), chat_template=self.template, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # jinja2 errors (TemplateError, undefined names) carry the template's message
            raise UserError(f"--chat-template {self.config.template} failed to render a prompt ({type(exc).__name__}: {exc}).") from None
        return text + response

    def encode(self, prompts: Sequence[str], responses: Sequence[str] | None = None) -> list[list[int]]:
        """Token ids of each prompt followed by its response (responses default to empty).

        Raw prompts: the ids of `prompt + response` with the tokenizer's default special tokens
        (e.g. a BOS), tokenised as one text (`ReasoningState.text`). With a template: the rendered
        prompt's ids (no special prefix added, the template writes its own), then the response's ids
        tokenised apart, so the prompt ends on a token boundary exactly as in an SFT example
        (`completion_ids`) and as when the model wrote the response itself.
        """
        if isinstance(prompts, str):
            raise TypeError("prompts must be a sequence of strings; wrap a single prompt: [prompt].")
        if not prompts:
            return []
        responses = list(responses) if responses is not None else [""] * len(prompts)
        if len(responses) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses.")
        if self.template is None:
            texts = [self.render(p, r) for p, r in zip(prompts, responses)]
            return [list(ids) for ids in self.tokenizer(texts)["input_ids"]]
        heads = self.tokenizer([self.render(p) for p in prompts], add_special_tokens=False)["input_ids"]
        tails = self.tokenizer([r for r in responses if r], add_special_tokens=False)["input_ids"] if any(responses) else []
        tails_iter = iter(tails)
        return [list(head) + (list(next(tails_iter)) if r else []) for head, r in zip(heads, responses)]

    def completion_ids(self, completion: str) -> list[int]:
        """A completion's training ids: its text without special prefix, then `end_token_id` (if any)."""
        ids = list(self.tokenizer(completion, add_special_tokens=False)["input_ids"])
        return ids + ([self.end_token_id] if self.end_token_id is not None else [])

    def conversation(self, prompt: str) -> list[dict[str, str]] | str:
        """What a trainer that applies templates itself (TRL) is given: the messages, or the raw
        (system-prefixed) prompt text when no template is in use."""
        return self.messages(prompt) if self.template is not None else self.render(prompt)


def render_prompt(config: ChatConfig | None, tokenizer: Any, prompt: str, response: str = "") -> str:
    """The text `tokenizer`'s model is given for the task prompt `prompt` (and the assistant's partial
    `response`) under `config`: the one rendering every stage uses (see `ChatPrompter.render`)."""
    return ChatPrompter(config, tokenizer).render(prompt, response)


def partial_response(state: Any) -> str:
    """The assistant's partial turn of a `ReasoningState`: each step followed by its delimiter."""
    return "".join(step + state.delimiter for step in state.steps)


__all__ = ["ChatConfig", "ChatPrompter", "NO_CHAT", "TEMPLATE_NAMES", "end_of_turn_id", "partial_response", "render_prompt"]
