"""The embedded policy: a small Llama-family model and a tokenizer, both built locally.

No weights can be downloaded, so the default policy is made here: `build_tokenizer` trains
a small BPE (or a character vocabulary) with `tokenizers`, `build_model` instantiates a
random-init `LlamaForCausalLM`, and `save_policy` writes both with `save_pretrained`, so
`AutoModelForCausalLM` / `AutoTokenizer` (and every backend in `agents/`) load the
directory like any hub checkpoint. `pretrain` trains the base on the corpus of whichever task
is named (`Task.pretrain_corpus`), never on a problem whose prompt is in an excluded file.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from astro_env.errors import UserError

log = logging.getLogger(__name__)

BASE_ALPHABET = string.printable  # digits, letters, punctuation, space, \t \n \r \x0b \x0c
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the embedded Llama (defaults: ~1M parameters, fast on one CPU thread)."""

    hidden_size: int = 128
    """Width of the residual stream."""
    n_layers: int = 4
    """Transformer blocks."""
    n_heads: int = 4
    """Attention heads (key/value heads too)."""
    intermediate_size: int = 512
    """MLP width."""
    max_position_embeddings: int = 1024
    """Longest sequence the rotary embedding is configured for."""
    tie_word_embeddings: bool = True
    """Share input and output embeddings."""

    def __post_init__(self) -> None:
        if self.hidden_size % self.n_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by n_heads={self.n_heads}.")


def build_tokenizer(
    texts: Iterable[str] = (),
    vocab_size: int = 256,
    kind: Literal["bpe", "char"] = "bpe",
    split_digits: bool = False,
    added_tokens: Sequence[str] = (),
):
    """A `PreTrainedTokenizerFast` trained on `texts`.

    `kind="char"`: one token per printable ASCII character (plus any other character seen in
    `texts`); `kind="bpe"`: BPE merges learned on `texts` on top of that alphabet, up to
    `vocab_size` tokens. Whitespace is kept verbatim (no pre-tokeniser), so decode(encode(s))
    == s for every string over the alphabet. Characters outside it map to `<unk>`.
    `split_digits=True` keeps every digit its own token (BPE merges never span digits, as in
    Llama's tokenizer), which makes arithmetic far easier for a small model to learn.
    `added_tokens` become single tokens matched before BPE (e.g. fixed reflection phrases).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    alphabet = sorted(set(BASE_ALPHABET).union(*map(set, texts)) if texts else set(BASE_ALPHABET))
    specials = list(SPECIAL_TOKENS.values())
    if kind == "char":
        vocab = {tok: i for i, tok in enumerate(specials + alphabet)}
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=SPECIAL_TOKENS["unk_token"]))
    elif kind == "bpe":
        if vocab_size < len(specials) + len(alphabet):
            raise ValueError(
                f"vocab_size={vocab_size} is smaller than the alphabet ({len(alphabet)} chars + {len(specials)} specials); "
                "raise it or use kind='char'."
            )
        tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
        if split_digits:
            tok.pre_tokenizer = pre_tokenizers.Digits(individual_digits=True)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=alphabet,
            limit_alphabet=len(alphabet),
            show_progress=False,
        )
        tok.train_from_iterator(texts or [BASE_ALPHABET], trainer=trainer)
    else:
        raise ValueError(f"kind={kind!r}: use 'bpe' or 'char'.")
    tok.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False, **SPECIAL_TOKENS)
    add_fixed_tokens(tokenizer, added_tokens)
    return tokenizer


def add_fixed_tokens(tokenizer, tokens: Sequence[str]) -> None:
    """Make each of `tokens` one token of `tokenizer`, matched verbatim before BPE (appended to the vocabulary)."""
    if tokens:
        from tokenizers import AddedToken

        tokenizer.add_tokens([AddedToken(t, normalized=False) for t in tokens])


def build_model(tokenizer, config: ModelConfig = ModelConfig(), seed: int = 0):
    """A random-init `LlamaForCausalLM` sized by `config` for `tokenizer`'s vocabulary."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    llama_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=config.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config)


def save_policy(model, tokenizer, out_dir: str | Path) -> Path:
    """`save_pretrained` both into `out_dir` (loadable with the Auto* classes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


# ----------------------------------------------------------------------------- base pre-training

CORPUS_BLOCK = 1000
"""Training pairs are taken in multiples of this many (packing "none", "grouped" and "wrapped")."""
GROUP_WINDOW = 8
"""Packing "grouped": the batches of a window of this many are cut from its pairs sorted by length."""


@dataclass(frozen=True)
class PretrainConfig:
    """The embedded base model: tokenizer + Llama + a short pre-training on a task's own corpus.

    The corpus is the task's `pretrain_corpus` (Countdown: random *legal* step sequences on
    generated problems, compared with the target and boxed, half of them with hindsight targets;
    see `astro_env.countdown.walk_corpus`). The base is meant to be competent at the task's steps
    (see `benchmarks.competence`) without having seen any search, and never to have seen a
    problem of the files in `exclude` (the run's test split): the task leaves them out of the
    corpus by construction, and `corpus.json` records the overlap, which is 0.
    """

    out: str
    """Output directory (model + tokenizer via save_pretrained, pretrain_config.json, pretrain_summary.json, corpus.json)."""
    model: ModelConfig = ModelConfig()
    """Shape of the Llama."""
    task: str = "countdown"
    """Task whose `pretrain_corpus` the base learns (a registered name or package.module:Class); a task
    without one cannot pre-train a base (bring one with --model)."""
    task_config: dict = field(default_factory=dict)
    """The task's `Config` as a dict (`{}`: its defaults). Pass the run's own, so the base is pre-trained on
    the problems it will be searched and evaluated on (Countdown: numbers, ranges and the corpus knobs of
    `CountdownConfig`)."""
    exclude: tuple[str, ...] = ()
    """Problem JSONL files whose prompts must never appear in the corpus (the run's test split)."""
    tokenizer_kind: Literal["bpe", "char"] = "bpe"
    """Small BPE trained on the synthetic corpus, or one token per character."""
    vocab_size: int = 384
    """BPE vocabulary size (ignored for "char")."""
    split_digits: bool = True
    """One token per digit in the BPE (arithmetic is much easier to learn)."""
    number_tokens: int = 1000
    """Integers 0..number_tokens-1 are one token each (matched before BPE; larger numbers fall
    back to digits). 0 switches it off. One token per number makes a step's arithmetic a
    lookup a small model can learn."""
    phrase_tokens: bool = True
    """Give each fixed phrase of the phrase bank and of the task's comparison sentences one token (a
    reflection then costs one token instead of ~100 characters, which keeps ASTRO traces affordable for
    a small model)."""
    prompt_end_token: Literal["auto", "yes", "no"] = "auto"
    """Whether the fixed text every prompt of the corpus ends with becomes one token (matched before BPE), so
    that no token spans the end of a prompt: a prompt followed by its completion then tokenises as the two
    tokenised apart, which is what pre-training and SFT train on and what a competence probe or a search
    state continues from. "auto": only when the plain BPE tokenises some pair of the tokenizer's corpus
    differently at the prompt's end (`boundary_mismatches`). Countdown's completions begin with a number
    token, so its BPE never spans the prompt's end and stays as it is; the math task's prompts end in
    "$.\n\nSolution:\n" before a word, which the plain BPE merges across in every pair, so that text becomes
    a token (the tokens of every training pair stay the ones the plain BPE gives the parts apart).
    pretrain_summary.json records the token and the mismatches left."""
    tokenizer_pairs: int = 2000
    """The first pairs of the corpus, on which the BPE is trained (the model trains on the pairs after them)."""
    n_steps: int = 2000
    """Optimizer steps. Measured on 200 held-out problems (3 numbers 1-9, targets 1-50, greedy, seed 0,
    whole walks, completion loss, batch 24): lr 3e-3 gives a legal-step rate / arithmetic accuracy of
    0.907 / 0.930 after 1500 steps and 0.973 / 0.980 after 2000; packed blocks with the loss on every
    token (`packing="wrapped"`, lr 5e-3) gave 0.817 / 0.950 after 2000. On the default run's test split
    excluded from the corpus (seed 1234, one thread, `benchmarks.bench_pretrain`): 0.943 / 0.958 after
    2000 steps, 0.950 / 0.963 after 2500, 0.977 / 0.983 after 3000."""
    packing: Literal["none", "grouped", "wrapped", "blocks"] = "none"
    """How pairs are batched. "none": whole pairs, right-padded (each sees only itself and starts at
    position 0, as at inference); "grouped": the same pairs, each once, but batched with pairs of
    similar length (the shuffled pairs are taken `GROUP_WINDOW` batches at a time, sorted by length
    and cut into batches, and the batches shuffled), so a batch is padded less: for a corpus whose
    pairs differ in length (the math task's: 36 tokens median, 62 at most) a step costs about a
    fifth less for the same pairs, and nothing for one whose pairs are all alike (Countdown's walks);
    "wrapped": concatenated and cut into `seq_len`-token blocks (no
    padding, but attention crosses pairs and a pair starts mid-block); "blocks": whole pairs packed
    into `seq_len`-token blocks in corpus order, each attending only to itself from position 0
    (block-diagonal causal attention through per-pair position ids; only the end of a block is padded)."""
    loss_on: Literal["all", "completion"] = "completion"
    """Score every token, or only the completion (a prompt's numbers are random: nothing to learn)."""
    batch_size: int = 24
    """Pairs per step (packing "none" and "grouped"), or blocks per step."""
    seq_len: int = 128
    """Tokens per block (packing "wrapped" and "blocks"; a "blocks" pair must fit in one)."""
    lr: float = 3e-3
    """Peak AdamW learning rate (linear warmup, cosine decay; measured at 2000 steps: 2e-3 gives
    0.960 / 0.970, 3e-3 0.973 / 0.980, 5e-3 0.910 / 0.935, 1e-2 0.363 / 0.525)."""
    warmup_ratio: float = 0.05
    """Fraction of the steps spent in warmup."""
    seed: int = 0
    """Seeds the corpus (its problems and walks), initialisation and data order."""
    n_eval: int = 64
    """Held-out problems the task generates (seed + 1000003), decoded greedily after training to report
    competence (0: skip; tasks that generate no problems skip it too)."""
    threads: int | None = 1
    """torch threads (None or 0: leave torch's default, as GRPO's 0)."""

    def __post_init__(self) -> None:
        for name in ("n_steps", "batch_size", "seq_len", "tokenizer_pairs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1.")
        if not isinstance(self.task_config, dict):
            raise ValueError(f"task_config must be a dict of the task's Config fields, got {type(self.task_config).__name__}.")
        if any(isinstance(v, str) for v in self.task_config.values()):  # a command line's text: the fields' types
            from astro_env.task import config_from_mapping, task_config_class

            config_cls = task_config_class(self.task)
            if config_cls is not None:
                typed = config_from_mapping(config_cls, self.task_config, f"task {self.task!r}")
                object.__setattr__(self, "task_config", {k: getattr(typed, k) for k in self.task_config})
        if self.prompt_end_token not in ("auto", "yes", "no"):
            raise ValueError(f"prompt_end_token={self.prompt_end_token!r}: use 'auto', 'yes' or 'no'.")
        if self.packing not in ("none", "grouped", "wrapped", "blocks"):
            raise ValueError(f"packing={self.packing!r}: use 'none', 'grouped', 'wrapped' or 'blocks'.")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0.")
        if self.n_eval < 0:
            raise ValueError(f"n_eval={self.n_eval} must be >= 0 (0 skips the evaluation).")
        if self.threads is not None and self.threads < 0:
            raise UserError(f"threads={self.threads}: use >= 1, or 0 to leave torch's default.")
        if self.number_tokens < 0:
            raise ValueError(f"number_tokens={self.number_tokens} must be >= 0 (0: digits only).")


def corpus_task(config: PretrainConfig):
    """The task `config` pre-trains on, built with its `task_config`; `UserError` (one line, naming --model)
    when the task supplies no corpus."""
    import astro_env

    task = astro_env.get_task(config.task, config.task_config)
    if not callable(getattr(task, "pretrain_corpus", None)):
        raise UserError(
            f"task {config.task!r} supplies no pre-training corpus (no pretrain_corpus), so the embedded base "
            "cannot be pre-trained for it; pass --model DIR (a save_pretrained directory) with your own base model."
        )
    return task


def tokenize_pairs(tokenizer, prompts: Sequence[str], completions: Sequence[str]) -> list:
    """`training.data.tokenize_example` of each (prompt, completion), tokenised in two batched calls."""
    from training.data import TokenizedExample

    prompt_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    completion_ids = tokenizer(list(completions), add_special_tokens=False)["input_ids"]
    eos = (tokenizer.eos_token_id,) if tokenizer.eos_token_id is not None else ()
    return [TokenizedExample(tuple(p) + tuple(c) + eos, len(p)) for p, c in zip(prompt_ids, completion_ids)]


def grouped_order(order: Sequence[int], lengths: Sequence[int], batch_size: int, seed: int) -> list[int]:
    """`order` rearranged so that each run of `batch_size` holds pairs of similar length (packing "grouped").

    The whole batches of `order` are taken `GROUP_WINDOW` at a time; each window's pairs are sorted
    by length (ties in their order) and cut into batches; the batches are then shuffled (seeded by
    `seed`) and the pairs of the last, partial batch follow as they were. Every index stays exactly once.

    >>> grouped_order([0, 1, 2, 3], [5, 1, 4, 2], 2, seed=0) in ([1, 3, 2, 0], [2, 0, 1, 3])
    True
    """
    import random

    whole = len(order) - len(order) % batch_size
    batches: list[list[int]] = []
    window = GROUP_WINDOW * batch_size
    for start in range(0, whole, window):
        ranked = sorted(order[start:min(start + window, whole)], key=lambda i: lengths[i])
        batches += [ranked[k:k + batch_size] for k in range(0, len(ranked), batch_size)]
    random.Random(seed + 7).shuffle(batches)
    return [i for batch in batches for i in batch] + list(order[whole:])


def pack_blocks(examples: Sequence, seq_len: int, loss_on: Literal["all", "completion"], pad_token_id: int, n_blocks: int | None = None):
    """`(input_ids, labels, position_ids, n_used)`: whole examples packed in order into `[n_blocks, seq_len]` blocks.

    An example goes into the current block when it fits, else opens the next one; the end of a
    block is padding (labels IGNORE_INDEX, positions counting from 0 as a segment of its own).
    Position ids restart at 0 for every example, which makes attention block-diagonal (each
    example attends only to itself, as `transformers` reads packed position ids) and each
    example's positions those it has at inference. The label of an example's first token is
    ignored (nothing before it in its own block predicts it). Stops after `n_blocks` blocks when
    given (`n_used`: the examples placed); ValueError for an example longer than `seq_len`.
    """
    import torch

    from training.data import IGNORE_INDEX, example_labels

    ids: list[list[int]] = []
    labels: list[list[int]] = []
    positions: list[list[int]] = []
    row_ids: list[int] = []
    row_labels: list[int] = []
    row_pos: list[int] = []
    n_used = 0

    def flush() -> None:
        pad = seq_len - len(row_ids)
        ids.append(row_ids + [pad_token_id] * pad)
        labels.append(row_labels + [IGNORE_INDEX] * pad)
        positions.append(row_pos + list(range(pad)))

    for example in examples:
        n = len(example.input_ids)
        if n > seq_len:
            raise ValueError(f"a pair of {n} tokens does not fit a block of seq_len={seq_len}; raise seq_len.")
        if len(row_ids) + n > seq_len:
            flush()
            row_ids, row_labels, row_pos = [], [], []
            if n_blocks is not None and len(ids) == n_blocks:
                break
        row_ids += list(example.input_ids)
        row_labels += [IGNORE_INDEX] + example_labels(example, loss_on)[1:]
        row_pos += list(range(n))
        n_used += 1
    else:
        if row_ids and (n_blocks is None or len(ids) < n_blocks):
            flush()
    if not ids:
        raise ValueError("no pair to pack; the corpus is empty.")
    as_tensor = lambda rows: torch.tensor(rows, dtype=torch.long)  # noqa: E731
    return as_tensor(ids), as_tensor(labels), as_tensor(positions), n_used


def greedy_decoder(model, tokenizer, batch_size: int = 64):
    """`decode(prompts, max_new_tokens) -> texts`: one greedy completion per prompt through the project's
    batched decoder (`agents.hf.TransformersPolicy`, its lean Llama path where it applies).

    Batches of up to `batch_size` rows (prompts sorted by length, left-padded), ending at EOS or
    after `max_new_tokens` tokens; special tokens are dropped from the text. The outputs equal
    `model.generate(do_sample=False)`'s on the same prompts (`tests/benchmarks/test_competence.py`).
    """
    from agents.base import PolicyConfig, SamplingConfig
    from agents.hf import TransformersPolicy

    policy = TransformersPolicy(model, tokenizer, PolicyConfig(backend="transformers", max_batch_size=batch_size))

    def decode(prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        if not prompts:
            return []
        outs = policy.complete(list(prompts), 1, SamplingConfig(max_tokens=max_new_tokens, temperature=0.0, seed=0))
        return [samples[0].text for samples in outs]

    return decode


def generate_texts(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 64, batch_size: int = 64) -> list[str]:
    """One greedy completion per prompt (`greedy_decoder`)."""
    return greedy_decoder(model, tokenizer, batch_size)(prompts, max_new_tokens)


def competence_summary(task, model, tokenizer, problems, seed: int = 0) -> dict[str, float]:
    """The task's competence audit of one greedy completion per problem, its solve rate, and the solve rate
    of random legal play (when the task has it): `pretrain_summary.json`'s competence keys."""
    import random

    from astro_env.task import competence_probes

    probes = competence_probes(task)
    max_new = probes.max_new_tokens if probes is not None else 128
    texts = generate_texts(model, tokenizer, [task.format_prompt(p) for p in problems], max_new)
    n = max(1, len(problems))
    rates = dict(probes.audit(problems, texts)) if probes is not None else {}
    rates["solve_rate"] = sum(task.reward(p, t) == 1.0 for p, t in zip(problems, texts)) / n
    out: dict[str, float] = {f"model_{k}": v for k, v in rates.items()}
    if probes is not None:
        rng = random.Random(seed)
        references = [probes.reference_completion(p, rng) for p in problems]
        if all(r is not None for r in references):
            out["random_legal_solve_rate"] = sum(task.reward(p, r) for p, r in zip(problems, references)) / n
    return out


BOUNDARY_PAIRS = 500
"""Pairs of the tokenizer's corpus whose boundaries `corpus_tokenizer` checks (`boundary_mismatches`)."""


def boundary_mismatches(tokenizer, pairs: Sequence[tuple[str, str]], delimiter: str | None = "\n\n") -> int:
    """Pairs `(prompt, completion)` whose joint tokenisation differs from the parts tokenised apart, at the
    prompt's end or (with a `delimiter`) after any `delimiter` of the completion, a step's end: where the
    tokens trained on (prompt, then completion) and a continuation's (the text so far, then what follows)
    disagree.

    >>> tok = build_tokenizer(["ab;ab;ab"] * 20, vocab_size=200)  # learns "ab;ab" as one token
    >>> boundary_mismatches(tok, [("ab;", "ab")], delimiter=None)
    1
    """
    def ids(text: str, first: bool) -> list[int]:
        return tokenizer(text, add_special_tokens=first)["input_ids"]

    n = 0
    for prompt, completion in pairs:
        text = prompt + completion
        joint = ids(text, True)
        cuts = [len(prompt)]
        if delimiter:
            cuts += [len(prompt) + m.end() for m in re.finditer(re.escape(delimiter), completion) if m.end() < len(completion)]
        n += any(ids(text[:cut], True) + ids(text[cut:], False) != joint for cut in cuts)
    return n


def corpus_tokenizer(task, head: Sequence[tuple[Any, str]], config: PretrainConfig) -> tuple[Any, dict[str, Any]]:
    """The embedded base's tokenizer, trained on the (problem, completion) pairs `head` of `task`'s corpus, and
    what pretrain_summary.json records of it over the first `tokenizer_boundary_pairs` pairs:
    `tokenizer_prompt_end_token` (the text made one token, "" for none: `PretrainConfig.prompt_end_token`),
    `tokenizer_prompt_end_mismatches` (pairs that tokenise differently at the prompt's end: 0 with the token)
    and `tokenizer_step_end_mismatches` (pairs that do at the end of some step, which a search proposing with
    the base model continues from)."""
    prompts = [task.format_prompt(p) for p, _ in head]
    added: list[str] = [str(n) for n in range(config.number_tokens)]
    if config.phrase_tokens:
        added += _corpus_fragments(task)

    tokenizer = build_tokenizer([prompt + c for prompt, (_, c) in zip(prompts, head)], vocab_size=config.vocab_size,
                                kind=config.tokenizer_kind, split_digits=config.split_digits, added_tokens=added)
    end_token = ""
    checked = [(prompt, c) for prompt, (_, c) in zip(prompts[:BOUNDARY_PAIRS], head)]
    mismatches = boundary_mismatches(tokenizer, checked, delimiter=None)
    if config.prompt_end_token == "yes" or (config.prompt_end_token == "auto" and mismatches):
        end_token = os.path.commonprefix([prompt[::-1] for prompt in prompts])[::-1]
        if end_token:  # the BPE's merges stay; only the prompt's end is matched first
            add_fixed_tokens(tokenizer, [end_token])
            mismatches = boundary_mismatches(tokenizer, checked, delimiter=None)
    return tokenizer, {"tokenizer_prompt_end_token": end_token, "tokenizer_prompt_end_mismatches": mismatches,
                       "tokenizer_step_end_mismatches": boundary_mismatches(tokenizer, checked),
                       "tokenizer_boundary_pairs": len(checked)}


def _corpus_fragments(task) -> list[str]:
    """Phrase fragments of the search phrase bank and of the task's comparison sentences (one token each)."""
    from astro_env.task import outcome_phrases
    from search.verbalize import phrase_fragments

    phrases = outcome_phrases(task)
    return phrase_fragments(outcomes=[phrases] if phrases is not None else [])


def pretrain(config: PretrainConfig) -> Path:
    """Directory `config.out` holding the pre-trained base model and its tokenizer (Auto*-loadable).

    Also writes `pretrain_config.json`, `pretrain_summary.json` (final loss, tokens/s, steps/s, the
    wall and CPU seconds spent preparing the corpus and tokenizer, training and evaluating (CPU
    seconds of this process: with one thread, a measure that other work on the machine barely moves), the task's competence
    audit of the model and of random legal play on held-out problems) and
    `corpus.json` (corpus size; for each excluded file, its problems and how many of their prompts
    the corpus holds: 0). Raises `UserError` when the task supplies no corpus or an excluded file
    cannot be read, before anything is trained or written.
    """
    import json
    import math
    import random
    import time
    from dataclasses import asdict

    import torch

    from astro_env.loaders import read_problems
    from astro_env.problem import count_overlap, prompt_key
    from training.data import pack_examples
    from training.sft import cosine_lr, lm_loss

    t_start, cpu_start = time.perf_counter(), time.process_time()
    task = corpus_task(config)
    excluded = {path: read_problems(path) for path in config.exclude}
    exclude_keys = frozenset(prompt_key(p) for problems in excluded.values() for p in problems)
    if config.threads:
        torch.set_num_threads(config.threads)

    made: list = []  # the longest corpus made so far: any shorter one is its prefix

    def corpus(n_pairs: int) -> list:
        """The first `n_pairs` pairs of the task's corpus."""
        if n_pairs > len(made):
            made[:] = task.pretrain_corpus(n_pairs, config.seed, exclude_keys)
        return made[:n_pairs]

    n_rows = config.n_steps * config.batch_size
    whole = config.packing in ("none", "grouped")  # one fresh pair per row, right-padded
    n_unpacked = CORPUS_BLOCK * math.ceil(n_rows / CORPUS_BLOCK)
    head = corpus(config.tokenizer_pairs + (n_unpacked if whole else 0))[: config.tokenizer_pairs]
    tokenizer, tokenizer_record = corpus_tokenizer(task, head, config)
    model = build_model(tokenizer, config.model, seed=config.seed)
    n_params = sum(p.numel() for p in model.parameters())

    def training_examples(n_pairs: int) -> tuple[list, list]:
        pairs = corpus(config.tokenizer_pairs + n_pairs)[config.tokenizer_pairs:]
        return pairs, tokenize_pairs(tokenizer, [task.format_prompt(p) for p, _ in pairs], [c for _, c in pairs])

    if whole:
        pairs, examples = training_examples(n_unpacked)
    else:
        # wrapped: enough pairs for n_steps x batch x seq_len tokens with a 10% margin (whole blocks of
        # pairs); blocks: the pairs that fill n_steps x batch blocks. Grown until enough (a prefix each time).
        mean_len = sum(len(e.input_ids) for e in tokenize_pairs(tokenizer, [task.format_prompt(p) for p, _ in head[:200]],
                                                                 [c for _, c in head[:200]])) / max(1, min(200, len(head)))
        want = CORPUS_BLOCK * math.ceil(1.2 * n_rows * config.seq_len / mean_len / CORPUS_BLOCK)
        while True:
            pairs, examples = training_examples(want)
            if config.packing == "wrapped":
                totals = list(itertools.accumulate(len(e.input_ids) for e in examples))
                cut = next((k for k in range(CORPUS_BLOCK, len(examples) + 1, CORPUS_BLOCK)
                            if totals[k - 1] >= 1.1 * n_rows * config.seq_len), None)
                if cut is not None:
                    pairs, examples = pairs[:cut], examples[:cut]
                    break
            else:
                block_ids, block_labels, block_positions, n_used = pack_blocks(
                    examples, config.seq_len, config.loss_on, tokenizer.pad_token_id, n_blocks=n_rows)
                if block_ids.shape[0] == n_rows and n_used < len(examples):
                    pairs, examples = pairs[:n_used], examples[:n_used]
                    break
            want *= 2
    overlap = {path: count_overlap(problems, frozenset(prompt_key(p) for p, _ in head + pairs)) for path, problems in excluded.items()}
    if any(overlap.values()):  # the task's promise, checked: a bug, not bad input
        raise RuntimeError(f"task {config.task!r} put excluded prompts in its corpus ({overlap}); its pretrain_corpus ignores exclude_keys.")

    if config.packing == "wrapped":
        order = random.Random(config.seed).sample(range(len(examples)), len(examples))
        input_ids, labels = pack_examples(examples, order, config.seq_len, config.loss_on)  # [n_blocks, seq_len]

        def batch_at(step: int):
            rows = torch.arange(step * config.batch_size, (step + 1) * config.batch_size) % input_ids.shape[0]
            return input_ids[rows], labels[rows], None
    elif config.packing == "blocks":
        block_order = torch.tensor(random.Random(config.seed).sample(range(n_rows), n_rows), dtype=torch.long)

        def batch_at(step: int):
            rows = block_order[step * config.batch_size:(step + 1) * config.batch_size]
            return block_ids[rows], block_labels[rows], block_positions[rows]  # no mask: positions separate the pairs
    else:
        from training.data import collate

        order = random.Random(config.seed).sample(range(len(examples)), len(examples))
        if config.packing == "grouped":
            order = grouped_order(order, [len(e.input_ids) for e in examples], config.batch_size, config.seed)

        def batch_at(step: int):
            idx = [order[(step * config.batch_size + k) % len(order)] for k in range(config.batch_size)]
            batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, config.loss_on)
            return batch["input_ids"], batch["labels"], None  # right padding: causal attention needs no mask

    from training.optim import make_adamw

    optimizer = make_adamw(model.parameters(), config.lr, 0.0, (0.9, 0.95))
    warmup = int(config.warmup_ratio * config.n_steps)
    model.train()
    loss_acc = torch.zeros(())
    n_trained = n_scored_total = n_padding = 0  # token positions fed (padding included), scored, and padding
    t0, cpu0 = time.perf_counter(), time.process_time()
    losses: list[float] = []  # mean loss over each sixth of the run
    curve_every, n_acc = max(1, config.n_steps // 6), 0
    log_every, n_log, log_acc = max(1, min(100, config.n_steps // 20)), 0, torch.zeros(())  # progress lines
    for step in range(config.n_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config.n_steps, warmup, config.lr)
        batch, batch_labels, positions = batch_at(step)
        n_trained += batch.numel()
        n_padding += int((batch == tokenizer.pad_token_id).sum())
        extra = {"position_ids": positions} if positions is not None else {}
        loss_sum, n_scored = lm_loss(model(input_ids=batch, use_cache=False, **extra).logits, batch_labels)
        n_scored_total += n_scored
        loss = loss_sum / n_scored
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_acc += loss.detach()
        log_acc += loss.detach()
        n_acc += 1
        n_log += 1
        if (step + 1) % log_every == 0 or step + 1 == config.n_steps:
            elapsed = time.perf_counter() - t0
            log.info("pretrain step %d/%d loss %.4f (%.0f s, about %.0f s left)", step + 1, config.n_steps,
                     log_acc.item() / n_log, elapsed, elapsed / (step + 1) * (config.n_steps - step - 1))
            log_acc.zero_()
            n_log = 0
        if (step + 1) % curve_every == 0 or step + 1 == config.n_steps:
            losses.append(round(loss_acc.item() / n_acc, 4))
            loss_acc.zero_()
            n_acc = 0
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    if not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"pre-training diverged (losses {losses}); lower --lr.")

    summary: dict[str, Any] = {
        "n_params": n_params,
        "vocab_size": len(tokenizer),
        "n_walks": len(examples),
        "loss_curve": losses,
        "prepare_seconds": t0 - t_start,
        "prepare_cpu_seconds": cpu0 - cpu_start,
        "train_seconds": seconds,
        "train_cpu_seconds": cpu_seconds,
        "tokens_per_s": n_trained / seconds,
        "scored_tokens_per_s": n_scored_total / seconds,
        "padding_share": n_padding / max(1, n_trained),
        **tokenizer_record,
        "steps_per_s": config.n_steps / seconds,
    }
    if config.n_eval and callable(getattr(task, "generate", None)):
        t_eval, cpu_eval = time.perf_counter(), time.process_time()
        held_out = task.generate(config.n_eval, config.seed + 1_000_003)
        summary.update(competence_summary(task, model, tokenizer, held_out, seed=config.seed))
        summary["eval_seconds"] = time.perf_counter() - t_eval
        summary["eval_cpu_seconds"] = time.process_time() - cpu_eval

    model.config.use_cache = True
    out = save_policy(model, tokenizer, config.out)
    (out / "pretrain_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    (out / "pretrain_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    corpus_record = {
        "task": config.task,
        "n_pairs": len(head) + len(pairs),
        "n_tokenizer_pairs": len(head),
        "n_training_pairs": len(pairs),
        "exclude": [{"file": path, "n_problems": len(problems), "n_in_corpus": overlap[path]} for path, problems in excluded.items()],
    }
    (out / "corpus.json").write_text(json.dumps(corpus_record, indent=2) + "\n", encoding="utf-8")
    return out
