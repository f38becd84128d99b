"""SFT data: traces -> token ids -> a fixed, seeded sequence of micro-batches.

Prompt and completion are tokenised separately and concatenated, so the token boundary is
exactly where generation starts at inference (the policy is given the prompt's tokens and
writes the completion's). With a chat template (`agents.chat.ChatPrompter`) the prompt ids are
those of the rendered prompt, token for token what a generation is given, and the completion
ends with the template's end-of-turn token; raw prompts end with the tokenizer's EOS. The order of the
micro-batches is a pure function of `(seed, epoch)`, so a resumed run that skips the first
`data_position` micro-batches sees exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from astro_env.errors import MissingFileError, UserError
from astro_env.jsonl import check_manifest
from search.trace import Trace

IGNORE_INDEX = -100
"""Label value that `torch.nn.functional.cross_entropy` skips."""


@dataclass(frozen=True)
class TokenizedExample:
    """One SFT example as token ids; the first `n_prompt_tokens` ids are the prompt's."""

    input_ids: tuple[int, ...]
    n_prompt_tokens: int
    ignored: tuple[int, ...] = ()
    """Positions of completion tokens kept out of the loss (a trace's `masked_spans`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.n_prompt_tokens <= len(self.input_ids):
            raise ValueError(f"n_prompt_tokens={self.n_prompt_tokens} outside [0, {len(self.input_ids)}].")
        if any(not self.n_prompt_tokens <= i < len(self.input_ids) for i in self.ignored):
            raise ValueError(f"ignored positions {self.ignored} outside the completion [{self.n_prompt_tokens}, {len(self.input_ids)}).")


@dataclass(frozen=True)
class TokenizeStats:
    """What tokenising a trace set did to over-long examples."""

    n_examples: int
    """Examples kept."""
    n_truncated: int
    """Kept examples cut to `max_length` (their end, answer included, is lost)."""
    n_dropped: int
    """Examples dropped for being longer than `max_length`."""
    n_tokens: int
    """Tokens over all kept examples."""


def load_traces(path: str | os.PathLike) -> list[Trace]:
    """The traces of a traces.jsonl file, in file order.

    A last line without its newline that does not parse is a write torn by a crash and is
    dropped. Raises `MissingFileError` for a missing path and `UserError` (a ValueError)
    naming the file and line for anything else: not UTF-8, malformed JSON, a problems file
    (records with `problem`/`answer` but no `prompt`/`completion`), a record missing a field or
    with one of the wrong type, a file with no trace at all, and a file that no longer matches the
    manifest `astro linearize` wrote beside it (cut short or changed since).
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"traces file {path} does not exist; write one with `astro linearize`.")
    if not path.is_file():
        raise UserError(f"traces file {path} is a directory; pass the traces.jsonl written by `astro linearize`.")
    check_manifest(path, "traces file", "run `astro linearize` again to write it whole.")
    data = path.read_bytes()
    lines = data.split(b"\n")
    traces: list[Trace] = []
    for line_no, raw in enumerate(lines, start=1):
        torn = line_no == len(lines)  # no newline after it
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{path}:{line_no}: not UTF-8 text; a traces file is JSON Lines written by `astro linearize`.") from None
        except json.JSONDecodeError as exc:
            if torn:
                break
            raise UserError(f"{path}:{line_no}: malformed JSON line ({exc.msg}); pass the traces.jsonl written by `astro linearize`.") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}.")
        if "prompt" not in record and "completion" not in record and "problem" in record and "answer" in record:
            raise UserError(
                f"{path}:{line_no}: this is a problems file (id, problem, answer), not traces; "
                "turn problems into traces with `astro search` and `astro linearize`, then pass the traces.jsonl."
            )
        missing = [k for k in ("problem_id", "arm", "prompt", "completion") if k not in record]
        if missing:
            raise UserError(f"{path}:{line_no}: not a trace, missing field(s) {', '.join(missing)}; pass the traces.jsonl written by `astro linearize`.")
        bad = [k for k in ("problem_id", "prompt", "completion") if not isinstance(record[k], str)]
        bad += [k for k in ("n_backtracks", "n_restarts", "n_tokens", "k") if k in record and (not isinstance(record[k], int) or isinstance(record[k], bool))]
        if bad:
            raise UserError(f"{path}:{line_no}: field(s) {', '.join(bad)} have the wrong type (strings for problem_id/prompt/completion, integers for counts).")
        try:
            traces.append(Trace.from_dict(record))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{path}:{line_no}: invalid trace ({exc}).") from None
    if not traces:
        raise UserError(f"traces file {path} holds no trace; the linearize stage kept nothing (check its filters and the trees).")
    return traces


def tokenize_example(
    tokenizer: Any,
    prompt: str,
    completion: str,
    add_eos: bool = True,
    prompter: Any = None,
    masked_spans: Sequence[tuple[int, int]] = (),
) -> TokenizedExample:
    """Prompt ids + completion ids + the end token.

    `prompter` (an `agents.chat.ChatPrompter` over `tokenizer`) renders the prompt exactly as a
    generation sees it (`prompter.encode`) and ends the completion with its end token (a chat
    template's end-of-turn token, else EOS). Without one: the raw prompt with the tokenizer's
    special prefix (e.g. BOS, if it adds one), the completion, EOS; the same ids as a raw prompter.
    `masked_spans` (character spans of the completion) mark the completion tokens that are kept out
    of the loss: a token is ignored when it overlaps a span and its other characters are whitespace.
    The completion is tokenised whole either way, so the ids are those a generation produces.
    """
    if prompter is not None:
        prompt_ids = prompter.encode([prompt])[0]
        end = prompter.end_token_id
    else:
        prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        end = tokenizer.eos_token_id
    ignored: tuple[int, ...] = ()
    if masked_spans:
        if not getattr(tokenizer, "is_fast", False):
            raise UserError("traces with masked spans (--traces.mask-wrong-steps) need a fast tokenizer (character offsets); this one is not.")
        enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
        completion_ids = enc["input_ids"]
        inside = bytearray(len(completion))
        for start, stop in masked_spans:
            inside[start:stop] = b"\x01" * (stop - start)
        ignored = tuple(
            len(prompt_ids) + i
            for i, (start, stop) in enumerate(enc["offset_mapping"])
            if any(inside[start:stop])
            and all(inside[j] or completion[j].isspace() for j in range(start, stop))
        )
    else:
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    eos = [end] if add_eos and end is not None else []
    return TokenizedExample(tuple(prompt_ids) + tuple(completion_ids) + tuple(eos), len(prompt_ids), ignored)


def tokenize_traces(
    traces: Iterable[Trace],
    tokenizer: Any,
    max_length: int,
    overflow: Literal["truncate", "drop"] = "drop",
    prompter: Any = None,
) -> tuple[list[TokenizedExample], TokenizeStats]:
    """The tokenised examples (in input order) and counts of what `max_length` cut or dropped
    (`prompter`: see `tokenize_example`)."""
    if overflow not in ("truncate", "drop"):
        raise ValueError(f"overflow={overflow!r}: use 'truncate' or 'drop'.")
    kept: list[TokenizedExample] = []
    n_truncated = n_dropped = 0
    for trace in traces:
        example = tokenize_example(tokenizer, trace.prompt, trace.completion, prompter=prompter, masked_spans=trace.masked_spans)
        if len(example.input_ids) > max_length:
            if overflow == "drop":
                n_dropped += 1
                continue
            n_truncated += 1
            example = TokenizedExample(example.input_ids[:max_length], min(example.n_prompt_tokens, max_length),
                                       tuple(i for i in example.ignored if i < max_length))
        kept.append(example)
    stats = TokenizeStats(len(kept), n_truncated, n_dropped, sum(len(e.input_ids) for e in kept))
    return kept, stats


def example_labels(example: TokenizedExample, loss_on: Literal["all", "completion"]) -> list[int]:
    """Labels for `example`: its ids, with the prompt's set to IGNORE_INDEX when `loss_on == "completion"`.

    >>> example_labels(TokenizedExample((5, 6, 7, 2), 2), "completion")
    [-100, -100, 7, 2]
    """
    if loss_on == "all":
        labels = list(example.input_ids)
    elif loss_on == "completion":
        labels = [IGNORE_INDEX] * example.n_prompt_tokens + list(example.input_ids[example.n_prompt_tokens :])
    else:
        raise ValueError(f"loss_on={loss_on!r}: use 'all' or 'completion'.")
    for i in example.ignored:
        labels[i] = IGNORE_INDEX
    return labels


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A permutation of range(n), a pure function of (seed, epoch)."""
    import numpy as np

    return np.random.default_rng([seed, epoch]).permutation(n).tolist()


def batch_plan(n_examples: int, batch_size: int, n_epochs: int, seed: int) -> list[list[int]]:
    """Micro-batches (lists of example indices) of all epochs, in training order.

    Each epoch is a fresh seeded permutation cut into `batch_size` chunks (the last may be short).
    """
    if batch_size < 1 or n_epochs < 1:
        raise ValueError(f"batch_size={batch_size}, n_epochs={n_epochs}: both must be >= 1.")
    plan: list[list[int]] = []
    for epoch in range(n_epochs):
        order = epoch_order(n_examples, seed, epoch)
        plan += [order[i : i + batch_size] for i in range(0, n_examples, batch_size)]
    return plan


def pack_examples(
    examples: Sequence[TokenizedExample],
    order: Sequence[int],
    seq_len: int,
    loss_on: Literal["all", "completion"] = "all",
):
    """`(input_ids, labels)`, two `[n_blocks, seq_len]` long tensors: the examples in `order`
    concatenated (each ends in EOS) and cut into blocks; the incomplete last block is dropped.

    Packing wastes no compute on padding; attention crosses example boundaries within a block
    (as in TRL's "wrapped" packing), which the EOS separators make harmless in practice.
    """
    import torch

    ids: list[int] = []
    labels: list[int] = []
    for idx in order:
        ids += examples[idx].input_ids
        labels += example_labels(examples[idx], loss_on)
    n_blocks = len(ids) // seq_len
    if n_blocks == 0:
        raise ValueError(f"{len(ids)} tokens make no block of seq_len={seq_len}; lower seq_len or add data.")
    cut = n_blocks * seq_len
    input_ids = torch.tensor(ids[:cut], dtype=torch.long).view(n_blocks, seq_len)
    label_ids = torch.tensor(labels[:cut], dtype=torch.long).view(n_blocks, seq_len)
    return input_ids, label_ids


def collate(
    examples: Sequence[TokenizedExample],
    pad_token_id: int,
    loss_on: Literal["all", "completion"] = "all",
) -> dict[str, Any]:
    """A right-padded batch: `input_ids`, `attention_mask`, `labels` (`[batch, longest]`; pad labels ignored).

    The attention mask is omitted (None) when no example needs padding, so attention runs
    on its causal fast path.
    """
    import torch

    longest = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), longest), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids, dtype=torch.long)
        labels[row, :n] = torch.tensor(example_labels(example, loss_on), dtype=torch.long)
        attention_mask[row, :n] = 1
    needs_mask = any(len(e.input_ids) < longest for e in examples)
    return {"input_ids": input_ids, "attention_mask": attention_mask if needs_mask else None, "labels": labels}


__all__ = [
    "IGNORE_INDEX",
    "TokenizeStats",
    "TokenizedExample",
    "batch_plan",
    "collate",
    "epoch_order",
    "example_labels",
    "load_traces",
    "pack_examples",
    "tokenize_example",
    "tokenize_traces",
]
