r"""Where the final answer of a completion is: extraction policies, answer cues, chat-template tails.

Pure string work (linear scans and simple regexes, no evaluation). Three policies, each a superset
of the one before:

- `boxed`: only a `\boxed{...}` / `\fbox{...}` counts.
- `standard` (rewards): a box (replaced by a final statement with a value after the last box); without
  any box, the answer after the last answer phrase or cue ("The final answer is X", "Final Answer: X",
  "Answer: X", "Answer $X$", "答案是 X", "الإجابة هي X", "la réponse est X", ..., or "$X$ is the
  answer"), a sentence after a cue giving its one value, else a bold final value whose sentence states it.
- `lenient` (benchmarking models that do not box): then the last value of the completion's last
  paragraph (a math span, a bold span, a number), else the last number.

Whatever the policy, boxes take precedence over everything but a later statement: an empty or junk last
box is no answer even when the gold appears elsewhere in the text, and a box cut off by truncation is no
answer. A sentence whose value is negated, hedged or approximate ("is not 5", "2 or maybe 3", "about 3")
states no answer. Text after a chat-template marker (`<|im_start|>`, `<|eot_id|>`, ...) is not part of the
completion. For a gold that is a choice letter, `extract_choice` reads the letter.
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
_MATH_AHEAD = r"(?=\s*(?:\$|\\\(|\\\[))"
_CUE = re.compile(
    r"(?:(?<![A-Za-z])answer\s+is\s*:?|final\s+answer\s*:"
    r"|\*\*\s*(?:final\s+)?answer\s*:?\s*\*\*\s*:?|(?<![A-Za-z])answer\s*:"
    r"|(?<![A-Za-z])answer" + _MATH_AHEAD
    + r"|(?<![A-Za-z])solution(?:\s+set)?(?:\s+(?:to|of)\s+the\s+[A-Za-z]+)?\s+is" + _MATH_AHEAD +
    r"|答案\s*(?:是|为|為|：|:)|最终答案\s*(?:是|为|：|:)?|答え\s*(?:は|：|:)"
    r"|الإجابة(?:\s+النهائية)?\s*(?:هي|:)?|الجواب\s*(?:هو|:)?"
    r"|r[ée]ponse\s+(?:finale\s+)?est|r[ée]ponse\s*(?:finale\s*)?:"
    r"|la\s+respuesta\s+(?:final\s+)?es|respuesta\s*(?:final\s*)?:"
    r"|die\s+(?:endg[üu]ltige\s+)?antwort\s+(?:ist|lautet)|ist\s+die\s+antwort|antwort\s*:|^\s*####"
    r"|(?:окончательный\s+)?ответ\s*(?::|—)|a\s+resposta\s+(?:final\s+)?[ée]|resposta\s*:)",
    re.IGNORECASE | re.MULTILINE,
)
_BACK_CUE = re.compile(
    r"(\$[^$\n]+\$|\\\((?:(?!\\\)).)+\\\))\s*(?:is|are)\s+(?:the|our)\s+(?:final\s+)?(?:answer|solution)s?(?![A-Za-z])",
    re.IGNORECASE,
)
"""The answer stated before the phrase: "Therefore $x \\ge 5$ is the solution.", "Thus $x <= 2$ is our answer."."""
_JUNK = re.compile(r"[\s?.,;:!_\-–—…]*|\\?(?:dots|ldots|cdots|text\{\s*\})|\\?\.\.\.|answer|N/?A", re.IGNORECASE)
_ITEM = re.compile(
    r"\$\$(?P<display>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$|\\\((?P<paren>[^\n]+?)\\\)|\\\[(?P<bracket>.+?)\\\]"
    r"|\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|(?P<command>\\(?:d|t)?frac\s*\{[^{}]*\}\s*\{[^{}]*\}|\\sqrt\s*\{[^{}]*\})"
    r"|(?<![A-Za-z0-9_.,\\])(?P<number>[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?:,\d{1,2}(?![\d,]))?(?:/\d+)?(?:\s?%)?)",
    re.S,
)
"""A value in running text: a math span, a bold span, a bare `\\frac`/`\\sqrt`, or a number (not one inside a word)."""
_COPULA = re.compile(
    r"\s(?:is|are|was|were|equals|be|est|es|ist|sont|vaut|هو|هي)(?=\s)|(?<![<>!=])=(?!=)|是|为|為|等于|\\approx",
    re.IGNORECASE,
)
_QUALIFIERS = T.LOGIC_WORDS - {"and"} | {
    "non", "pas", "ne", "jamais", "environ", "peut", "nicht", "kein", "keine", "etwa", "ungefähr", "nunca", "aproximadamente",
    "quizás", "не", "или", "около", "أو", "لا", "ليس", "تقريبا", "नहीं", "या", "लगभग",
}
"""Words that make a sentence's value not a committed answer (negations, hedges, approximations)."""
_CJK_QUALIFIER = re.compile(r"不|没|沒|或|约|約|大概|可能|左右|以上|以下")
_PROSE = re.compile(r"[A-Za-z]{2,}[\s,;']+[A-Za-z]{2,}|[\u3040-\u30ff\u4e00-\u9fff\u0600-\u06ff\u0900-\u097f]")
_CHOICE = re.compile(r"\(?\s*([A-E])\s*\)?")
_LEADING_CHOICE = re.compile(r"\s*\(?([A-E])\)?(?:\s*[.:)。]\s*|\s+|$)(?![A-E](?:[\s,.;:)]|$))")
_STANDALONE_CHOICE = re.compile(r"(?<![A-Za-z'’\\])\(?([A-E])\)?(?![A-Za-z'’])")


@dataclass(frozen=True)
class Extracted:
    """What a completion states as its answer.

    `answers` holds the distinct candidates in order (one for a box or a cue; several only when the
    completion holds several boxes that are not all the same answer). `answers == ()` means no
    answer (nothing found, a truncated or junk box, or more distinct boxes than allowed)."""

    answers: tuple[str, ...]
    source: Literal["box", "cue", "bold", "expression", "none"]

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
    """Return the math at the start of `rest` (`$...$`, `$$...$$`, `\\(...\\)`, `\\[...\\]`), or None. Inline math
    (`$...$`, `\\(...\\)`) does not run across lines; an escaped `\\$` is not a delimiter."""
    if rest.startswith("$"):
        delim = "$$" if rest.startswith("$$") else "$"
        end = len(delim)
        while True:
            end = rest.find(delim, end)
            if end < 0 or rest[end - 1] != "\\":
                break
            end += 1
        if end < 0 or (delim == "$" and "\n" in rest[1:end]):
            return None
        return rest[len(delim) : end]
    if rest.startswith("\\(") or rest.startswith("\\["):
        end = rest.find("\\)" if rest[1] == "(" else "\\]", 2)
        if end < 0 or (rest[1] == "(" and "\n" in rest[2:end]):
            return None
        return rest[2:end]
    return None


def _item_value(m: re.Match) -> str:
    kind = m.lastgroup
    value = m.group(kind)
    if kind == "bold":
        inner = sentence_value(value)
        return inner if inner is not None else value
    if kind in ("display", "inline", "paren", "bracket"):
        parts = T.split_top_equals(value)
        return parts[-1] if len(parts) > 2 or (len(parts) == 2 and T.value_of(value) != value) else value
    return value


def sentence_value(sentence: str) -> str | None:
    """Return the one value a sentence of prose states ("The largest $n$ is 34" -> `34`, "3 hours ago" -> `3`,
    "每份应该是 (\\frac{2}{5}) 吨" -> `\\frac{2}{5}`), or None when it states none or several: the values after its
    last copula ("is", "=", "是", ...) outside math, else all of its values, must be exactly one."""
    items = list(_ITEM.finditer(sentence))
    spans = [(m.start(), m.end()) for m in items]
    start = 0
    for c in _COPULA.finditer(sentence):
        if not any(a <= c.start() < b for a, b in spans):
            start = c.end()
    after = [m for m in items if m.start() >= start]
    if len(after) != 1:
        return None
    if _qualified(sentence):
        return None  # "is definitely not 5", "约是 5": not a committed value
    return _item_value(after[0]).strip() or None


def _qualified(text: str) -> bool:
    """Whether `text` holds a negation, hedge or approximation word (`_QUALIFIERS`) outside its math."""
    words = {w.lower() for w in re.findall(r"[^\W\d_]+", _without_math(text))}
    return bool(words & _QUALIFIERS) or _CJK_QUALIFIER.search(text) is not None


def _clean(answer: str) -> str | None:
    answer = re.sub(r'^\\?["“”]|\\?["“”]$', "", answer.strip()).strip().rstrip(".,;。").strip()
    return answer or None


def stated_answer(text: str) -> tuple[str | None, int]:
    """Return (X, where its cue starts) of the last answer phrase or cue in `text` (see the module docstring), or
    (None, -1). A cue followed by prose states the one value of that sentence (see `sentence_value`)."""
    last = None
    for m in _CUE.finditer(text):
        last = m
    back = None
    for m in _BACK_CUE.finditer(text):
        back = m
    if back is not None and (last is None or back.start() > last.start()):
        return _clean(back.group(1).strip("$").removeprefix("\\(").removesuffix("\\)")), back.start()
    if last is None:
        return None, -1
    rest = text[last.end() : last.end() + 2 * T.MAX_ANSWER_CHARS].lstrip(" \t:：*")
    if rest.startswith("\n"):
        rest = rest.lstrip()
        if not (rest.startswith("$") or rest.startswith("\\[") or rest.startswith("\\(")):
            return None, last.start()
    delimited = _delimited(rest)
    if delimited is not None or rest[:1] == "$" or rest[:2] in ("\\(", "\\["):
        answer = delimited
        if answer is None:
            return None, last.start()
    else:
        line = rest.split("\n", 1)[0]
        # The sentence ends at ". " or a final "." (not a decimal point), or at a full-width stop.
        cut = re.search(r"\.(?:\s|$)|。|؛", line)
        answer = line[: cut.start()] if cut else line
        answer = answer.strip().strip("*").strip()
        if _PROSE.search(_without_math(answer)):
            value = sentence_value(answer)
            return (_clean(value) if value else None), last.start()
    return _clean(answer), last.start()



def answer_after_cue(text: str) -> str | None:
    """Return X of the last answer phrase or cue in `text` (see `stated_answer`), or None."""
    return stated_answer(text)[0]


def _without_math(s: str) -> str:
    """`s` with its math spans, `\\text{...}` groups and commands removed (what is left is its prose)."""
    s = re.sub(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]", " ", s)
    s = re.sub(r"\\[A-Za-z]+\s*(?:\{[^{}]*\})?", " ", s)
    return s


def bold_answer(text: str) -> str | None:
    """Return the value of the last bold span of the last paragraph when it is the text's last bold span and
    holds one value (`**3页**`, `**92**`, `**25%**`), else None."""
    tail = text[-4 * T.MAX_ANSWER_CHARS :]
    spans = list(re.finditer(r"\*\*([^*\n]+?)\*\*", tail))
    if not spans:
        return None
    last = spans[-1]
    if re.search(r"\n\s*\n", tail[last.end() :]):
        return None  # a later paragraph: the bold span is not the conclusion
    value = sentence_value(last.group(1))
    if value is None:
        return None
    # The sentence around it must state this one value ("... is **92**."), not hedge ("**2** or **7**").
    before = re.split(r"(?<=[.!?。！？؛])\s|\n", tail[: last.start()])[-1]
    after = re.split(r"(?<=[.!?。！？؛])\s|\n", tail[last.end() :])[0]
    if sentence_value(before + last.group(0) + after) is None:
        return None
    return _clean(value)


def last_expression(text: str) -> str | None:
    """Return the last value (math span, bold span or number) of the last non-empty paragraph, else the last number
    of `text`; a math span with an equation gives its last side."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if not paragraphs:
        return None
    tail = paragraphs[-1][-4 * T.MAX_ANSWER_CHARS :]
    items = list(_ITEM.finditer(tail))
    if items:
        lead = tail[items[-2].end() if len(items) > 1 else 0 : items[-1].start()]
        lead = re.split(r"(?<=[.!?。！？])\s", lead)[-1]
        if _qualified(lead):
            return None  # "It is definitely not 5.": the last value is negated or hedged
        value = _item_value(items[-1]).strip()
        if items[-1].lastgroup in ("display", "inline", "paren", "bracket"):
            value = T.split_top_equals(value)[-1].strip()
        return value or None
    if _qualified(tail):
        return None  # "That gives 5.\n\nHmm, no.": the last paragraph takes the earlier values back
    numbers = [m.group("number") for m in _ITEM.finditer(text[-4 * T.MAX_ANSWER_CHARS :]) if m.lastgroup == "number"]
    return numbers[-1] if numbers else None


def choice_letter(answer: str) -> str | None:
    """The choice letter an answer names: `C`, `(C)`, `\\text{(C)}`, or a letter that leads it, `(D) Alina`,
    `C. x = 42` (not an enumeration `A, B, C`); None otherwise."""
    n = T.normalize(answer)
    m = _CHOICE.fullmatch(n)
    if m:
        return m.group(1)
    m = _LEADING_CHOICE.match(answer)
    if m:
        return m.group(1)
    last = None
    for last in _CUE.finditer(answer):
        pass
    m = _LEADING_CHOICE.match(answer, last.end()) if last is not None else None
    return m.group(1) if m else None  # "... and the answer is\n(C) Cecile"


def extract_choice(text: str, policy: str = "standard", max_boxes: int = 8) -> str | None:
    """Return the choice letter a completion answers with, for a gold that is a choice letter, or None. `boxed` and
    `standard`: the letter of the box or the cue answer; `lenient` also: the first letter after the last cue, a
    letter that opens the completion ("D. it can't be A or B"), else the last letter of its last sentence."""
    found = extract(text, policy, max_boxes)
    if found.answers:
        letter = choice_letter(found.answers[-1])
        if letter is not None or found.source == "box" or policy != "lenient":
            return letter
    elif policy != "lenient":
        return None
    text = strip_chat_tail(text)
    last = None
    for m in _CUE.finditer(text):
        last = m
    if last is not None:
        m = _STANDALONE_CHOICE.search(text, last.end())
        if m:
            return m.group(1)
    m = re.match(r"\s*\(?([A-E])\)?(?![A-Za-z'’])", text)
    if m:
        return m.group(1)  # "D. it can't be A or B", "B不是 A"
    sentences = [x for x in re.split(r"(?<=[.!?。])\s+", text.strip()) if x.strip()]
    letters = _STANDALONE_CHOICE.findall(sentences[-1]) if sentences else []
    return letters[-1] if letters else None


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
        if policy != "boxed":
            after = text[boxes.boxes[-1].end :]
            stated = stated_answer(after)[0] if _CUE.search(after) or _BACK_CUE.search(after) else None
            if stated is not None and (_ITEM.search(stated) or re.search(r"[\\\d]", stated)):
                # (a value, not a verdict on the box: "so our answer is correct")
                return Extracted((stated,), "cue")  # "... \\boxed{200} ... Final Answer: 10,455": the last statement
        last_key = _key(last)
        ordered = [c for k, c in distinct.items() if k != last_key]
        return Extracted((*ordered, last), "box")
    if policy == "boxed":
        return NONE
    stated, at = stated_answer(text)
    if stated is not None:
        return Extracted((stated,), "cue")
    if at >= 0 and policy == "standard":
        return NONE  # a cue that states no single value ("The answer is 2 or maybe 3.") is no answer
    bold = bold_answer(text)
    if bold is not None:
        return Extracted((bold,), "bold")
    if policy == "standard":
        return NONE
    expression = last_expression(text)
    return Extracted((expression,), "expression") if expression else NONE
