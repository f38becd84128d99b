r"""Where the final answer of a completion is: extraction policies, answer cues, chat-template tails.

Pure string work (linear scans and simple regexes, no evaluation). Three policies, each a superset
of the one before:

- `boxed`: only a `\boxed{...}` / `\fbox{...}` counts.
- `standard` (rewards): a box; without any box, the answer after the last answer phrase or cue
  ("The final answer is X", "Final Answer: X", "Answer: X", "答案是 X", "الإجابة هي X",
  "la réponse est X", ...).
- `lenient` (benchmarking models that do not box): then the last mathematical expression of the
  completion's last paragraph (`$...$`, `\(...\)`, `\[...\]`, else the last number).

Whatever the policy, boxes take precedence and are never second-guessed: an empty or junk last box
is no answer even when the gold appears elsewhere in the text, and a box cut off by truncation is no
answer. Text after a chat-template marker (`<|im_start|>`, `<|eot_id|>`, ...) is not part of the
completion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from astro_env import _verifier_text as T

Extraction = Literal["boxed", "standard", "lenient"]
EXTRACTIONS: tuple[str, ...] = ("boxed", "standard", "lenient")
"""The extraction policies, from strictest to most lenient."""

_TAIL = re.compile(
    r"<\|(?:im_start|im_end|eot_id|end_of_text|endoftext|start_header_id|end|user|assistant|system)\|>"
    r"|</s>|<end_of_turn>|<start_of_turn>|\[INST\]|<｜(?:end▁of▁sentence|User|Assistant)｜>"
    r"|\n\s*(?:Human|User|USER|### (?:Instruction|User)):"
)
_CUE = re.compile(
    r"(?:final\s+answer\s+is|the\s+answer\s+is|answer\s+is\s*:|final\s+answer\s*:"
    r"|\*\*\s*(?:final\s+)?answer\s*:?\s*\*\*\s*:?|(?<![A-Za-z])answer\s*:"
    r"|答案\s*(?:是|为|為|：|:)|最终答案\s*(?:是|为|：|:)?|答え\s*(?:は|：|:)"
    r"|الإجابة(?:\s+النهائية)?\s*(?:هي|:)?|الجواب\s*(?:هو|:)?"
    r"|la\s+r[ée]ponse\s+(?:finale\s+)?est|r[ée]ponse\s*(?:finale\s*)?:"
    r"|la\s+respuesta\s+(?:final\s+)?es|respuesta\s*(?:final\s*)?:"
    r"|die\s+(?:endg[üu]ltige\s+)?antwort\s+(?:ist|lautet)|ist\s+die\s+antwort|antwort\s*:|^\s*####"
    r"|(?:окончательный\s+)?ответ\s*(?::|—)|a\s+resposta\s+(?:final\s+)?[ée]|resposta\s*:)",
    re.IGNORECASE | re.MULTILINE,
)
_JUNK = re.compile(r"[\s?.,;:!_\-–—…]*|\\?(?:dots|ldots|cdots|text\{\s*\})|\\?\.\.\.|answer|N/?A", re.IGNORECASE)


@dataclass(frozen=True)
class Extracted:
    """What a completion states as its answer.

    `answers` holds the distinct candidates in order (one for a box or a cue; several only when the
    completion holds several boxes that are not all the same answer). `answers == ()` means no
    answer (nothing found, a truncated or junk box, or more distinct boxes than allowed)."""

    answers: tuple[str, ...]
    source: Literal["box", "cue", "expression", "none"]

    @property
    def answer(self) -> str | None:
        """The final answer: the last candidate, or None."""
        return self.answers[-1] if self.answers else None


NONE = Extracted((), "none")


def strip_chat_tail(text: str) -> str:
    """Return `text` up to its first chat-template marker (the model's turn ends there)."""
    m = _TAIL.search(text)
    return text[: m.start()] if m else text


def is_junk(answer: str) -> bool:
    """Whether a boxed answer is empty or junk (`?`, `...`, `answer`, `N/A`): never an answer."""
    if len(answer) > 4 * T.MAX_ANSWER_CHARS:
        return False  # too long to be junk (and never equivalent to anything: see the verifier)
    return _JUNK.fullmatch(T.normalize(answer).strip()) is not None


def _key(answer: str) -> str:
    """The comparison key of a boxed answer (raw text when too long to normalise cheaply)."""
    return answer if len(answer) > 4 * T.MAX_ANSWER_CHARS else T.compact(T.normalize(answer))


def _delimited(rest: str) -> str | None:
    """Return the math at the start of `rest` (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`), or None."""
    if rest.startswith("$"):
        delim = "$$" if rest.startswith("$$") else "$"
        end = rest.find(delim, len(delim))
        return rest[len(delim) : end] if end >= 0 else None
    if rest.startswith("\\(") or rest.startswith("\\["):
        end = rest.find("\\)" if rest[1] == "(" else "\\]", 2)
        return rest[2:end] if end >= 0 else None
    return None


def answer_after_cue(text: str) -> str | None:
    """Return X of the last answer phrase or cue in `text` (see the module docstring), or None."""
    last = None
    for m in _CUE.finditer(text):
        last = m
    if last is None:
        return None
    rest = text[last.end() : last.end() + 2 * T.MAX_ANSWER_CHARS].lstrip(" \t:：*")
    if rest.startswith("\n"):
        rest = rest.lstrip()
        if not (rest.startswith("$") or rest.startswith("\\[") or rest.startswith("\\(")):
            return None
    delimited = _delimited(rest)
    if delimited is not None or rest[:1] == "$" or rest[:2] in ("\\(", "\\["):
        answer = delimited
        if answer is None:
            return None
    else:
        line = rest.split("\n", 1)[0]
        # The sentence ends at ". " or a final "." (not a decimal point), or at a full-width stop.
        cut = re.search(r"\.(?:\s|$)|。|؛", line)
        answer = line[: cut.start()] if cut else line
        answer = answer.strip().strip("*").strip()
    answer = answer.strip().rstrip(".,;。").strip()
    return answer or None


_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?")


def last_expression(text: str) -> str | None:
    """Return the last math span of the last non-empty paragraph, else the last number of `text`."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs:
        return None
    tail = paragraphs[-1][-4 * T.MAX_ANSWER_CHARS :]
    spans = [next(g for g in m.groups() if g is not None) for m in _MATH_SPAN.finditer(tail)]
    if spans:
        span = spans[-1]
        parts = T.split_top_equals(span)
        return parts[-1].strip() or None
    numbers = _NUMBER.findall(text[-4 * T.MAX_ANSWER_CHARS :])
    return numbers[-1] if numbers else None


def extract(text: str, policy: str = "standard", max_boxes: int = 8) -> Extracted:
    """Return the answer candidates of `text` under `policy` (see the module docstring). Never raises
    on a string; `policy` must be one of `EXTRACTIONS`."""
    if policy not in EXTRACTIONS:
        raise ValueError(f"extraction={policy!r} is not a policy; use one of {', '.join(EXTRACTIONS)}.")
    text = strip_chat_tail(text)
    boxes = T.find_boxes(text)
    if boxes.truncated:
        return NONE
    if boxes.contents:
        last = boxes.contents[-1].strip()
        if is_junk(last):
            return NONE
        distinct: dict[str, str] = {}
        for content in boxes.contents:
            content = content.strip()
            if is_junk(content):
                return NONE  # a junk box among several is no answer either
            distinct.setdefault(_key(content), content)
            if len(distinct) > max_boxes:
                return NONE
        last_key = _key(last)
        ordered = [c for k, c in distinct.items() if k != last_key]
        return Extracted((*ordered, last), "box")
    if policy == "boxed":
        return NONE
    stated = answer_after_cue(text)
    if stated is not None:
        return Extracted((stated,), "cue")
    if policy == "standard":
        return NONE
    expression = last_expression(text)
    return Extracted((expression,), "expression") if expression else NONE
