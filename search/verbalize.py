"""Node sequences to text and back: the phrase bank, `verbalize` and the trace parser.

ASTRO's "procedure cloning in language": a linearised node sequence (search/linearize.py)
becomes one chain of thought. Continuation steps are written as they are; a wrong terminal
states its answer without `\\boxed{}` ("That gives {answer}."), then a fixed reflection and a
sentence naming where we return ("Let's go back to where we ..." / "Let's restart ...");
high-Q intermediate nodes and the final node are followed by "... Our solution seems to be
correct so far." Every phrase lives in `search/phrases.json` (styles "phrases", "markers" for
Satori-like explicit tokens, "off"). A task whose prompt names a goal (Countdown's target)
supplies its own comparison sentences (`astro_env.task.outcome_phrases`), written after a final
step in every style and arm. `parse_trace` inverts the text into a directed graph of steps with
backtrack/restart edges; it never raises, so it also reads model outputs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from astro_env.boxes import scan_boxes
from astro_env.outcome import PLACEHOLDER as _PLACEHOLDER
from astro_env.outcome import Comparison, OutcomePhrases, template_fragments  # noqa: F401  (Comparison: what a comparison chunk parses into)
from astro_env.task import Task, outcome_phrases

if TYPE_CHECKING:  # pragma: no cover
    from agents.base import PolicyAgent, SamplingConfig
    from astro_env.problem import Problem
    from search.linearize import NodeSequence
    from search.tree import SearchTree

PHRASES_PATH = Path(__file__).with_name("phrases.json")
"""The default, editable phrase bank."""
PROMPTS_DIR = Path(__file__).with_name("prompts")
"""Prompt templates (rewrite.txt, self_eval.txt)."""

PHRASE_KINDS = ("attempt", "doubt", "confirm", "backtrack", "restart")
"""Phrase kinds of a bank, in the order the parser tries them (after a task's comparisons, which
come before the looser `attempt`)."""
OUTCOME_KINDS = ("reached", "missed")
"""The kinds of a task's comparison sentences (`astro_env.outcome.OutcomePhrases`)."""


@dataclass(frozen=True)
class PhraseBank:
    """The fixed phrases of one verbalisation style; an empty phrase is not emitted.

    `attempt` must contain `{answer}` and must never box it (the verifier scores several
    conflicting boxed answers as 0); `backtrack` contains `{target}` when not empty.
    """

    attempt: str = "That gives {answer}."
    """Written in place of a wrong terminal's boxed answer (when the task states no comparison for it)."""
    doubt: str = ""
    """Reflection after a wrong terminal, before the jump."""
    confirm: str = ""
    """Reflection after high-Q intermediate nodes and after the final node."""
    backtrack: str = ""
    """Names the step we return to: `{target}` is that step, quoted or summarised."""
    restart: str = ""
    """A jump back to the root."""
    quote_max_chars: int = 160
    """Steps longer than this (whitespace collapsed) are quoted by a prefix followed by '...'."""
    style: str = "custom"
    """Name of the style this bank was loaded from (informational)."""

    def __post_init__(self) -> None:
        if "{answer}" not in self.attempt or "boxed" in self.attempt:
            raise ValueError(
                f"attempt={self.attempt!r}: the attempt phrase must contain '{{answer}}' and no \\boxed "
                "(several boxed answers make the verifier score 0)."
            )
        if self.backtrack and "{target}" not in self.backtrack:
            raise ValueError(f"backtrack={self.backtrack!r}: add '{{target}}' (the step we return to) or leave it empty.")
        if self.quote_max_chars < 8:
            raise ValueError(f"quote_max_chars={self.quote_max_chars}: use >= 8 so a quote can be located again.")

    @classmethod
    def load(cls, path: str | Path | None = None, style: str = "phrases") -> "PhraseBank":
        """The bank of `style` in the JSON file `path` (default: search/phrases.json)."""
        data = json.loads(Path(path or PHRASES_PATH).read_text(encoding="utf-8"))
        if style not in data or not isinstance(data[style], Mapping):
            styles = [k for k, v in data.items() if isinstance(v, Mapping)]
            raise ValueError(f"style={style!r} is not in {path or PHRASES_PATH}; choose one of {styles}.")
        entry = dict(data[style])
        known = {k: entry[k] for k in (*PHRASE_KINDS, "quote_max_chars") if k in entry}
        return cls(**known, style=style)

    @classmethod
    def load_all(cls, path: str | Path | None = None) -> list["PhraseBank"]:
        """Every style in the file (what `parse_trace` recognises by default)."""
        data = json.loads(Path(path or PHRASES_PATH).read_text(encoding="utf-8"))
        return [cls.load(path, style) for style, v in data.items() if isinstance(v, Mapping)]


def phrase_fragments(banks: Sequence[PhraseBank] | None = None, outcomes: Sequence[OutcomePhrases] = (),
                     min_chars: int = 4) -> list[str]:
    """The fixed text of every phrase (split at its placeholders), longest first, deduplicated.

    `banks` default: every style of search/phrases.json; `outcomes`: tasks' comparison sentences.
    A small model's tokenizer can hold each fragment as one token, so a reflection costs one
    token instead of a hundred characters (see `training.embedded.PretrainConfig.phrase_tokens`).
    """
    out: set[str] = set()
    for bank in banks if banks is not None else PhraseBank.load_all():
        for kind in PHRASE_KINDS:
            out.update(template_fragments(getattr(bank, kind), min_chars))
    for phrases in outcomes:
        out.update(phrases.fragments(min_chars))
    return sorted(out, key=lambda f: (-len(f), f))


def task_of(problem: "Problem") -> Task | None:
    """The task `problem.task` names when it is a registered task (or import path) that loads, else None."""
    import astro_env

    try:
        return astro_env.get_task(problem.task)
    except (ValueError, TypeError, ImportError):
        return None


# ---------------------------------------------------------------------------- text helpers


def _fill(template: str, **values: str) -> str:
    """`template` with `{name}` placeholders replaced literally (LaTeX braces stay intact)."""
    out = template
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out


def _boxed_spans(text: str) -> list[tuple[int, int, int, int]]:
    r"""(start, end, inner_start, inner_end) of each brace-balanced `\boxed{...}` in `text` (`astro_env.boxes`)."""
    return [(b.start, b.end, b.inner_start, b.inner_end) for b in scan_boxes(text).braced]


def last_boxed(text: str) -> str | None:
    r"""The content of the last brace-balanced `\boxed{...}` in `text`, None when there is none."""
    spans = _boxed_spans(text)
    if not spans:
        return None
    _, _, a, b = spans[-1]
    return text[a:b].strip()


def unbox(text: str) -> str:
    r"""`text` with every `\boxed{X}` replaced by `X`."""
    spans = _boxed_spans(text)
    out, pos = [], 0
    for start, end, a, b in spans:
        out.append(text[pos:start])
        out.append(text[a:b])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def quote_step(step: str, max_chars: int) -> str:
    """The step as a one-line quote: whitespace collapsed, cut to `max_chars` with '...'."""
    flat = _normalise(step)
    if len(flat) <= max_chars:
        return flat
    return flat[:max_chars].rstrip() + "..."


def _strip_answer_noise(text: str) -> str:
    return text.strip().strip("$").strip().rstrip(".").strip()


def render_wrong_terminal(step: str, answer: str, phrases: PhraseBank) -> str:
    r"""A wrong terminal's text: the step without `\boxed{}` (dropped when it only repeats the
    answer) followed by the attempt phrase. Never contains `\boxed`."""
    statement = _fill(phrases.attempt, answer=answer)
    body = unbox(step).strip()
    if not body or _strip_answer_noise(body) == _strip_answer_noise(answer):
        return statement
    return f"{body} {statement}"


# ---------------------------------------------------------------------------- rewriter


@dataclass
class StepRewriter:
    """Rewrites continuation steps with a policy so they read naturally after the prose.

    The prompt is the few-shot template `search/prompts/rewrite.txt` (placeholders {problem},
    {context}, {step}); a rewrite is kept only if it is non-empty, contains no delimiter and
    no `\\boxed` (otherwise the original step is used). Terminal steps are never rewritten.
    """

    policy: "PolicyAgent"
    template: str | None = None
    sampling: "SamplingConfig | None" = None
    context_chars: int = 400
    """How much of the text so far (its end) the prompt shows."""

    def __post_init__(self) -> None:
        if self.template is None:
            self.template = (PROMPTS_DIR / "rewrite.txt").read_text(encoding="utf-8")

    def rewrite(self, problem: str, items: Sequence[tuple[str, str]], delimiter: str) -> list[str]:
        """One rewrite per (context, step) item, in one batched `complete` call."""
        if not items:
            return []
        from agents.base import SamplingConfig

        sampling = self.sampling or SamplingConfig(max_tokens=256, temperature=0.0, stop=(delimiter,))
        prompts = [
            _fill(self.template or "", problem=problem, context=ctx[-self.context_chars :], step=step)
            for ctx, step in items
        ]
        outs = self.policy.complete(prompts, 1, sampling)
        result = []
        for (_, step), samples in zip(items, outs):
            text = samples[0].text.strip() if samples else ""
            ok = text and delimiter not in text and "\\boxed" not in text
            result.append(text if ok else step)
        return result


# ---------------------------------------------------------------------------- verbalize


@dataclass(frozen=True)
class Rendering:
    """`verbalize`'s full result: the chunks written and where each sequence node went."""

    chunks: tuple[str, ...]
    step_texts: tuple[tuple[str, ...], ...]
    """Rendered step texts per attempt (what `parse_trace` should recover)."""
    n_backtracks: int
    n_restarts: int
    off_path: tuple[int, ...] = ()
    """Indices into `chunks` of what a wrong attempt wrote off the final correct path: its steps
    below the last step it shares with that path, and a wrong terminal's own text when no
    comparison with the task's goal replaces it. Reflections, comparisons, jumps and every step
    of the correct path are not among them."""

    def text(self, delimiter: str) -> str:
        """The completion: the chunks joined by `delimiter`."""
        return delimiter.join(self.chunks)

    def off_path_spans(self, delimiter: str) -> tuple[tuple[int, int], ...]:
        """Character spans `[start, end)` in `text(delimiter)` of the chunks in `off_path`."""
        wanted = set(self.off_path)
        out, pos = [], 0
        for i, chunk in enumerate(self.chunks):
            if i in wanted and chunk:
                out.append((pos, pos + len(chunk)))
            pos += len(chunk) + len(delimiter)
        return tuple(out)


def render(
    tree: "SearchTree",
    sequence: "NodeSequence",
    phrases: PhraseBank | None,
    *,
    high_q_threshold: float = 0.75,
    confirm_intermediate: bool = True,
    confirm_final: bool = True,
    rewriter: StepRewriter | None = None,
    delimiter: str | None = None,
    task: Task | None | Literal["auto"] = "auto",
    restate_problem: bool = False,
) -> Rendering:
    """The chunks of a verbalised sequence (see `verbalize`) with per-attempt step texts."""
    if task == "auto":
        task = task_of(tree.problem)
    delim = delimiter or tree.delimiter
    nodes = tree.nodes
    last_attempt = len(sequence.attempts) - 1
    rewritten: dict[tuple[int, int], str] = {}
    if rewriter is not None:
        items, keys, ctx = [], [], tree.prompt
        for a_idx, attempt in enumerate(sequence.attempts):
            for pos, node_id in enumerate(attempt.node_ids):
                if not nodes[node_id].terminal:
                    items.append((ctx, nodes[node_id].step))
                    keys.append((a_idx, pos))
                ctx += nodes[node_id].step + delim
        for key, text in zip(keys, rewriter.rewrite(tree.problem.problem, items, delim)):
            rewritten[key] = text

    outcome = outcome_phrases(task) if task is not None else None
    goal = task.outcome_goal(tree.problem) if outcome is not None else None  # type: ignore[union-attr]
    chunks: list[str] = []
    per_attempt: list[tuple[str, ...]] = []
    shown: dict[int, str] = {}  # node id -> its latest rendered text
    on_path = {n.id for n in tree.path(sequence.attempts[-1].node_ids[-1])} if sequence.attempts else set()
    off_path: list[int] = []
    n_backtracks = n_restarts = 0
    for a_idx, attempt in enumerate(sequence.attempts):
        if a_idx:
            if attempt.start_id == 0:
                n_restarts += 1
                jump = phrases.restart if phrases else ""
            else:
                n_backtracks += 1
                target = shown.get(attempt.start_id, nodes[attempt.start_id].step)
                jump = (
                    _fill(phrases.backtrack, target=quote_step(target, phrases.quote_max_chars))
                    if phrases and phrases.backtrack
                    else ""
                )
            reflection = " ".join(p for p in ((phrases.doubt if phrases else ""), jump) if p)
            if reflection:
                chunks.append(reflection)
            if restate_problem and attempt.start_id == 0 and tree.problem.problem.strip():
                chunks.append(tree.problem.problem.strip())
        texts = []
        for pos, node_id in enumerate(attempt.node_ids):
            node = nodes[node_id]
            final = a_idx == last_attempt and pos == len(attempt.node_ids) - 1
            value = task.outcome_value(tree.problem, node.answer) if node.terminal and goal is not None else None  # type: ignore[union-attr]
            if node.terminal and not final:
                if value is not None and value != goal:  # (a wrong answer with the goal's value misuses the numbers)
                    text = outcome.sentence(value, goal or "")  # type: ignore[union-attr]
                else:
                    text = render_wrong_terminal(node.step, node.answer or "", phrases or PhraseBank())
                    off_path.append(len(chunks))
            else:
                if a_idx != last_attempt and node_id not in on_path:
                    off_path.append(len(chunks))
                text = rewritten.get((a_idx, pos), node.step)
                if value is not None:
                    chunks.append(outcome.sentence(value, goal or ""))  # type: ignore[union-attr]
            chunks.append(text)
            texts.append(text)
            shown[node_id] = text
            if phrases and phrases.confirm:
                if final and confirm_final:
                    chunks.append(phrases.confirm)
                elif not node.terminal and confirm_intermediate and node.value >= high_q_threshold and not (
                    goal is not None and pos + 1 < len(attempt.node_ids) and nodes[attempt.node_ids[pos + 1]].terminal
                ):  # a final step that is compared with the goal is judged by the comparison that follows it
                    chunks.append(phrases.confirm)
        per_attempt.append(tuple(texts))
    return Rendering(tuple(chunks), tuple(per_attempt), n_backtracks, n_restarts, tuple(off_path))


def verbalize(
    tree: "SearchTree",
    sequence: "NodeSequence",
    phrases: PhraseBank | None,
    *,
    high_q_threshold: float = 0.75,
    confirm_intermediate: bool = True,
    confirm_final: bool = True,
    rewriter: StepRewriter | None = None,
    delimiter: str | None = None,
    task: Task | None | Literal["auto"] = "auto",
    restate_problem: bool = False,
) -> tuple[str, int, int]:
    r"""(completion text, n_backtracks, n_restarts) of one linearised node sequence.

    Chunks are joined by `delimiter` (default: the tree's). Continuation steps are written as
    they are (or rewritten by `rewriter`); a wrong terminal becomes its un-boxed step plus
    `phrases.attempt` ("That gives {answer}."); each later attempt opens with `doubt` and
    `backtrack` (naming the step returned to) or `restart` (at the root); `confirm` follows
    intermediate nodes with Q >= `high_q_threshold` and the final node. Only the final,
    correct step keeps its `\boxed{}`. `phrases=None` writes the plain steps (the Direct arm).
    `restate_problem`: after each restart the problem statement is written again, as a chunk of
    its own, so the next attempt starts from the numbers and the goal written just above it.
    """
    out = render(
        tree,
        sequence,
        phrases,
        high_q_threshold=high_q_threshold,
        confirm_intermediate=confirm_intermediate,
        confirm_final=confirm_final,
        rewriter=rewriter,
        delimiter=delimiter,
        task=task,
        restate_problem=restate_problem,
    )
    return out.text(delimiter or tree.delimiter), out.n_backtracks, out.n_restarts


# ---------------------------------------------------------------------------- parser


@dataclass
class ParsedStep:
    """One step recovered from a trace. `parent` is None for a child of the root."""

    index: int
    text: str
    parent: int | None
    attempt: int
    answer: str | None = None
    verified: bool = False
    """A confirm phrase followed the step."""


@dataclass(frozen=True)
class ParsedEdge:
    """`kind="step"`: parent -> child; "backtrack"/"restart": terminal -> the step returned to
    (`dst` None for the root, or for a backtrack whose target could not be located)."""

    src: int | None
    dst: int | None
    kind: Literal["step", "backtrack", "restart"]


@dataclass
class ParsedTrace:
    """The directed graph of a trace: steps, edges, jump counts and each attempt's answer."""

    steps: list[ParsedStep] = field(default_factory=list)
    edges: list[ParsedEdge] = field(default_factory=list)
    n_backtracks: int = 0
    n_restarts: int = 0
    attempt_answers: list[str] = field(default_factory=list)
    """Answers stated in order (wrong attempts' "That gives X." or boxed answers); the last is
    the final answer when the trace has one. Attempts that stated no answer are absent."""

    @property
    def n_attempts(self) -> int:
        return 1 + max((s.attempt for s in self.steps), default=0) if self.steps else 0

    @property
    def attempts(self) -> list[list[str]]:
        """Step texts grouped by attempt."""
        out: list[list[str]] = [[] for _ in range(self.n_attempts)]
        for s in self.steps:
            out[s.attempt].append(s.text)
        return out

    @property
    def final_answer(self) -> str | None:
        return self.attempt_answers[-1] if self.attempt_answers else None

    @property
    def first_answer(self) -> str | None:
        return self.attempt_answers[0] if self.attempt_answers else None

    @property
    def jump_targets(self) -> list[int | None]:
        """For each backtrack/restart edge in order: the index of the step returned to."""
        return [e.dst for e in self.edges if e.kind != "step"]


def _template_regexes(template: str) -> list[re.Pattern[str]]:
    """A strict regex of `template`, plus a loose one for the jump phrases (its literal prefix)."""
    if not template:
        return []
    parts, pos, pattern = [], 0, ""
    for m in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[pos : m.start()]))
        at_end = not template[m.end() :].strip()
        parts.append(f"(?P<{m.group(1)}>[^\\n]+)" if at_end else f"(?P<{m.group(1)}>[^\\n]+?)")
        pos = m.end()
    parts.append(re.escape(template[pos:]))
    pattern = "".join(parts)
    if "{answer}" in template:
        # an attempt phrase ends its line and boxes nothing, so
        # prose such as "... that gives us $3+2+2=7$ boxes, ..." is not read as an answer
        strict = re.compile(r"(?:^|(?<=\s))(?![^\n]*\\boxed)" + pattern + r"[ \t]*$", re.MULTILINE)
    else:
        strict = re.compile(pattern + r"(?=\s|$)")
    out = [strict]
    m = _PLACEHOLDER.search(template)
    if m and m.group(1) == "target" and template[: m.start()].strip():
        words = template[: m.start()].rstrip(' "\'').split(" ")
        prefix = " ".join(words[:-1]) if len(words) > 3 else " ".join(words)
        out.append(re.compile(re.escape(prefix) + r"(?:\s+\w+)?\s*\"?(?P<target>[^\n\"]*)"))
    return out


def _bank_patterns(banks: Sequence[PhraseBank], outcome: OutcomePhrases | None = None) -> list[tuple[str, bool, re.Pattern[str]]]:
    seen, out = set(), []
    templates = [(kind, getattr(outcome, kind)) for kind in OUTCOME_KINDS] if outcome is not None else []
    templates += [(kind, getattr(bank, kind)) for bank in banks for kind in PHRASE_KINDS]
    for kind, template in templates:
        for i, rx in enumerate(_template_regexes(template)):
            if rx.pattern not in seen:
                seen.add(rx.pattern)
                out.append((kind, i == 0, rx))
    return out


def _chunk_events(chunk: str, patterns: list[tuple[str, bool, re.Pattern[str]]]) -> list[tuple[str, dict[str, Any]]]:
    """The phrases and steps of one chunk, in order."""
    found = []
    for kind, strict, rx in patterns:
        for m in rx.finditer(chunk):
            if m.end() > m.start():
                found.append((m.start(), 0 if strict else 1, -(m.end() - m.start()), m, kind))
    found.sort(key=lambda t: t[:3])
    chosen, cursor = [], 0
    for start, _, _, m, kind in found:
        if start >= cursor:
            chosen.append((m, kind))
            cursor = m.end()
    events: list[tuple[str, dict[str, Any]]] = []
    pos = 0
    for m, kind in chosen:
        before = chunk[pos : m.start()]
        if kind in ("attempt", "missed"):
            text = chunk[pos : m.end()].strip()
            events.append(("step", {"text": text, "answer": m.group("answer").strip()}))
        else:
            # prose before a phrase in the same chunk: a step before a confirm, reflection
            # (not a step) before a jump
            if before.strip() and kind not in ("backtrack", "restart", "doubt"):
                events.append(("step", {"text": before.strip(), "answer": None}))
            groups = m.groupdict()
            events.append((kind, {"target": (groups.get("target") or "").strip()}))
        pos = m.end()
    rest = chunk[pos:]
    if rest.strip():
        events.append(("step", {"text": rest.strip(), "answer": None}))
    return events


def _locate(target: str, steps: list[ParsedStep], current: int | None) -> int | None:
    """Index of the step a backtrack quote names: the current path first (deepest first), then
    any earlier step; exact (whitespace-normalised) match, then quote prefix, then containment."""
    quote = _normalise(target).rstrip('"').rstrip()
    if not quote:
        return None
    prefix = quote[:-3].rstrip() if quote.endswith("...") else None
    path, node = [], current
    while node is not None:
        path.append(node)
        node = steps[node].parent
    others = [i for i in range(len(steps) - 1, -1, -1) if i not in set(path)]
    candidates = path + others
    tests = [lambda s: s == quote]
    if prefix:
        tests.append(lambda s: s.startswith(prefix))
    tests.append(lambda s: bool(s) and (quote in s or s in quote))
    for test in tests:
        for idx in candidates:
            if test(_normalise(steps[idx].text)):
                return idx
    # loose model text ("Let's go back to where we set up 2x = 8"): the step on the current
    # path sharing the most content tokens with the quote, at least two of them
    words = _content_tokens(quote)
    best, best_score = None, 1
    for idx in path:
        score = len(words & _content_tokens(steps[idx].text))
        if score > best_score:
            best, best_score = idx, score
    return best


def _content_tokens(text: str) -> set[str]:
    out = set()
    for tok in text.lower().split():
        tok = tok.strip(".,;:!?()$\"'")
        if len(tok) >= 3 or any(c.isdigit() for c in tok) or tok in ("=", "+", "-", "*", "/"):
            out.add(tok)
    return out


def parse_trace(
    text: str,
    delimiter: str = "\n\n",
    phrases: PhraseBank | Sequence[PhraseBank] | None = None,
    task: Task | str | None = None,
    problem: str | None = None,
) -> ParsedTrace:
    r"""The directed graph of steps in a verbalised (or model-written) trace. Never raises.

    `phrases`: the bank(s) whose phrases to recognise (default: every style of
    search/phrases.json). `task` (a Task or its name): the task whose comparison sentences to
    recognise (a `missed` sentence states its value as a wrong attempt's answer; `reached` states
    nothing); None recognises none. Steps are the delimiter-separated chunks minus phrases; a step with
    an attempt phrase ("That gives X.") or a `\boxed{X}` states answer X; a backtrack phrase
    jumps to the step its quote names (located on the current path), a restart to the root;
    the next step hangs below the jump target and opens a new attempt, as does a step after
    an answered one. Jumps with no step after them are still counted. `problem` (the problem
    statement): a chunk right after a restart that restates it exactly is not a step.
    """
    out = ParsedTrace()
    try:
        _parse_into(out, text, delimiter, phrases, task, problem)
    except Exception:  # noqa: BLE001 - the parser reads arbitrary model text and must never raise
        pass
    out.n_backtracks = sum(1 for e in out.edges if e.kind == "backtrack")
    out.n_restarts = sum(1 for e in out.edges if e.kind == "restart")
    return out


def _parse_into(
    out: ParsedTrace,
    text: str,
    delimiter: str,
    phrases: PhraseBank | Sequence[PhraseBank] | None,
    task: Task | str | None = None,
    problem: str | None = None,
) -> None:
    """`parse_trace`'s work, filling `out` as it goes (so a failure keeps what was parsed)."""
    if phrases is None:
        banks = PhraseBank.load_all()
    elif isinstance(phrases, PhraseBank):
        banks = [phrases]
    else:
        banks = list(phrases)
    if isinstance(task, str):
        import astro_env

        task = astro_env.get_task(task)
    patterns = _bank_patterns(banks, outcome_phrases(task) if task is not None else None)
    if not isinstance(text, str):
        return
    chunks = text.split(delimiter) if delimiter else [text]
    current: int | None = None
    attempt = 0
    pending: tuple[str, int | None] | None = None
    after_answer = False
    restated = problem.strip() if problem else None
    for chunk in chunks:
        if restated and pending is not None and pending[0] == "restart" and chunk.strip() == restated:
            continue
        for kind, data in _chunk_events(chunk, patterns):
            if kind == "step":
                parent = current
                if pending is not None:
                    jump_kind, target = pending
                    out.edges.append(ParsedEdge(current, target, jump_kind))  # type: ignore[arg-type]
                    parent = target
                    pending = None
                    if out.steps:
                        attempt += 1
                elif after_answer:
                    attempt += 1
                answer = data["answer"] if data["answer"] is not None else last_boxed(data["text"])
                idx = len(out.steps)
                out.steps.append(ParsedStep(idx, data["text"], parent, attempt, answer))
                out.edges.append(ParsedEdge(parent, idx, "step"))
                if answer is not None:
                    out.attempt_answers.append(answer)
                after_answer = answer is not None
                current = idx
            elif kind == "backtrack":
                target = _locate(data["target"], out.steps, current)
                pending = ("backtrack", target)
            elif kind == "restart":
                pending = ("restart", None)
            elif kind == "confirm" and current is not None:
                out.steps[current].verified = True
    if pending is not None:
        out.edges.append(ParsedEdge(current, pending[1], pending[0]))  # type: ignore[arg-type]


def with_style(bank: PhraseBank, **changes: Any) -> PhraseBank:
    """A copy of `bank` with some phrases changed (e.g. `confirm=""` to switch one off)."""
    return replace(bank, **changes)
