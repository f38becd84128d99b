"""The embedded policy: a small Llama-family model and a tokenizer, both built locally.

No weights can be downloaded, so the default policy is made here: `build_tokenizer` trains
a small BPE (or a character vocabulary) with `tokenizers`, `build_model` instantiates a
random-init `LlamaForCausalLM`, and `save_policy` writes both with `save_pretrained`, so
`AutoModelForCausalLM` / `AutoTokenizer` (and every backend in `agents/`) load the
directory like any hub checkpoint.
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal, Sequence

from astro_env.countdown import CountdownConfig

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
    if added_tokens:
        from tokenizers import AddedToken

        tokenizer.add_tokens([AddedToken(t, normalized=False) for t in added_tokens])
    return tokenizer


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


def _default_countdown() -> CountdownConfig:
    return CountdownConfig(n_numbers=3, min_number=1, max_number=9, min_target=1, max_target=50)


@dataclass(frozen=True)
class PretrainConfig:
    """The embedded base model: tokenizer + Llama + a short pre-training on the Countdown step grammar.

    The corpus is random *legal* step sequences (every step applies, the final combination is
    compared with the target in words, the last step boxes the expression) on generated
    Countdown problems. For a fraction `hindsight_ratio` of the walks the prompt's target is
    the walk's own result (hindsight targets), so the base model learns that the target is
    something to aim at and to compare with; the rest keep the problem's target, so it also
    sees misses. The base is meant to be competent (legal steps, exact arithmetic, a true
    comparison; see `benchmarks.competence`); aiming at the target, it solves more often than
    random legal play, and the search traces are what teach it to recover from a miss.
    """

    out: str
    """Output directory (model + tokenizer via save_pretrained, pretrain_config.json, pretrain_summary.json)."""
    model: ModelConfig = ModelConfig()
    """Shape of the Llama."""
    countdown: CountdownConfig = field(default_factory=_default_countdown)
    """Problems the walks are drawn on; pass the run's own (same numbers, ranges) so the base
    is pre-trained on the task it will be searched and evaluated on."""
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
    """Give each fixed reflection/backtrack phrase of the phrase bank one token (a reflection then costs
    one token instead of ~100 characters, which keeps ASTRO traces affordable for a small model)."""
    hindsight_ratio: float = 0.5
    """Fraction of walks whose prompt target is the walk's own result (when inside the target range)."""
    compare: bool = True
    """Write the comparison with the target ("That gives 8; the target is 6, so this is not it.") after the final combination,
    as the traces do."""
    n_problems: int = 2000
    """Countdown problems the random walks are drawn on (`generate_problems(n, seed)`)."""
    n_steps: int = 2000
    """Optimizer steps. Measured on 200 held-out problems (3 numbers 1-9, targets 1-50, greedy, seed 0,
    whole walks, completion loss, batch 24): lr 3e-3 gives a legal-step rate / arithmetic accuracy of
    0.907 / 0.930 after 1500 steps and 0.973 / 0.980 after 2000; packed blocks with the loss on every
    token (the earlier recipe, lr 5e-3) gave 0.817 / 0.950 after 2000."""
    packing: bool = False
    """Pack walks into `seq_len`-token blocks (no padding, but attention crosses walks and a
    walk starts mid-block), or batch whole walks right-padded (each walk sees only itself and
    starts at position 0, as at inference)."""
    loss_on: Literal["all", "completion"] = "completion"
    """Score every token, or only the completion (a prompt's numbers are random: nothing to learn)."""
    batch_size: int = 24
    """Walks per step (unpacked), or packed blocks per step."""
    seq_len: int = 128
    """Tokens per packed block (packing only)."""
    lr: float = 3e-3
    """Peak AdamW learning rate (linear warmup, cosine decay; measured at 2000 steps: 2e-3 gives
    0.960 / 0.970, 3e-3 0.973 / 0.980, 5e-3 0.910 / 0.935, 1e-2 0.363 / 0.525)."""
    warmup_ratio: float = 0.05
    """Fraction of the steps spent in warmup."""
    seed: int = 0
    """Seeds problems, walks, initialisation and data order."""
    n_eval: int = 64
    """Held-out problems decoded greedily after training to report competence (0: skip)."""
    threads: int | None = 1
    """torch threads (None: leave torch's default)."""

    def __post_init__(self) -> None:
        for name in ("n_problems", "n_steps", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1.")
        if self.countdown.n_numbers < 2:
            raise ValueError(f"countdown.n_numbers={self.countdown.n_numbers}: Countdown needs >= 2 numbers.")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0.")
        if self.n_eval < 0:
            raise ValueError(f"n_eval={self.n_eval} must be >= 0 (0 skips the evaluation).")
        if not 0.0 <= self.hindsight_ratio <= 1.0:
            raise ValueError(f"hindsight_ratio={self.hindsight_ratio} must be in [0, 1] (0: the problems' own targets only).")
        if self.number_tokens < 0:
            raise ValueError(f"number_tokens={self.number_tokens} must be >= 0 (0: digits only).")


def random_walk(numbers: Sequence[int], rng) -> tuple[list[str], int]:
    """(combination steps, final value) of uniformly random legal steps until one number is left.

    The boxed step is not included (it follows the comparison with the target).
    """
    from astro_env.countdown import initial_pool, legal_transitions

    pool, steps = initial_pool(list(numbers)), []
    while len(pool) > 1:
        step, pool = rng.choice(legal_transitions(pool))
        steps.append(step)
    return steps, pool


def walk_completion(numbers: Sequence[int], target: int, rng, compare: bool = True, phrases=None) -> str:
    """A completion of random legal steps, the comparison with `target` (when `compare`), and the
    boxed expression, chunks joined by a blank line."""
    from astro_env.countdown import boxed_step, format_value
    from search.verbalize import PhraseBank, compare_sentence

    steps, pool = random_walk(numbers, rng)
    if compare:
        steps.append(compare_sentence(format_value(pool[0][1]), str(target), phrases or PhraseBank()))
    steps.append(boxed_step(pool[0][0]))
    return "\n\n".join(steps)


def random_legal_completion(problem, rng, compare: bool = True) -> str:
    """A completion of random legal steps to the boxed end for `problem` (see `walk_completion`)."""
    from astro_env.countdown import problem_numbers

    numbers, target = problem_numbers(problem)
    return walk_completion(numbers, target, rng, compare=compare)


def grammar_corpus(
    problems, n_texts: int, seed: int, hindsight_ratio: float = 0.0, compare: bool = True,
    target_range: tuple[int, int] | None = None,
) -> list[tuple[str, str]]:
    """`n_texts` (prompt, completion) pairs: a random problem of `problems` and a random legal walk.

    With probability `hindsight_ratio` the prompt's target is replaced by the walk's own result
    (kept only when inside `target_range`, inclusive, if given), so the walk solves its prompt.
    """
    import random

    from astro_env.countdown import problem_numbers, problem_text
    from search.verbalize import PhraseBank

    rng = random.Random(seed)
    phrases = PhraseBank()
    out = []
    for _ in range(n_texts):
        problem = problems[rng.randrange(len(problems))]
        numbers, target = problem_numbers(problem)
        if rng.random() < hindsight_ratio:
            walk_rng_state = rng.getstate()
            _, pool = random_walk(numbers, rng)
            value = int(pool[0][1])
            if target_range is None or target_range[0] <= value <= target_range[1]:
                target = value
            rng.setstate(walk_rng_state)  # replay the same walk below
        prompt = problem_text(numbers, target) + "\n\n"
        out.append((prompt, walk_completion(numbers, target, rng, compare=compare, phrases=phrases)))
    return out


def audit_completion(problem, text: str, delimiter: str = "\n\n") -> dict[str, int]:
    """Counts of one completion's first attempt (pure; never raises on model text).

    Keys: `n_steps`, `n_legal`, `n_arithmetic`, `n_arithmetic_correct` (see
    `astro_env.countdown.audit_steps`), `all_legal` (0/1: every step legal through the boxed
    one), `n_compared` and `n_compared_true` (comparison sentences written, and those that are
    true: the value is the last step's result, the goal named is the prompt's target, and the
    verdict says "we have it" only when the value is the target). The first attempt ends at the first comparison's box, or at
    the first chunk after a comparison that is not the box (a reflection).
    """
    from astro_env.countdown import audit_steps, problem_numbers
    from search.verbalize import parse_comparison

    chunks = [c for c in (text.split(delimiter) if isinstance(text, str) else []) if c.strip()]
    target = problem_numbers(problem)[1]
    attempt: list[str] = []
    n_compared = n_true = 0
    last_value: str | None = None
    for k, chunk in enumerate(chunks):
        comparison = parse_comparison(chunk)
        if comparison is None:
            attempt.append(chunk)
            value = chunk.strip().rpartition("=")[2].partition(";")[0].strip()
            last_value = value if value.isdigit() else last_value
            continue
        n_compared += 1
        value, goal, reached = comparison
        n_true += value == last_value and comparison.true and (goal == str(target) if goal is not None else reached == (value == str(target)))
        follows = chunks[k + 1] if k + 1 < len(chunks) else ""
        if follows.strip().startswith("\\boxed{"):
            attempt.append(follows)
        break
    audit = audit_steps(problem, attempt)
    return {
        "n_steps": audit.n_steps, "n_legal": audit.n_legal, "n_arithmetic": audit.n_arithmetic,
        "n_arithmetic_correct": audit.n_arithmetic_correct, "all_legal": int(audit.all_legal),
        "n_compared": n_compared, "n_compared_true": n_true,
    }


def competence_rates(problems, texts: Sequence[str]) -> dict[str, float]:
    """Rates over completions aligned with `problems` (pure): `legal_step_rate` (legal steps /
    steps written), `legal_completion_rate`, `arithmetic_accuracy` (stated value = true value),
    `target_copy_rate` (true comparisons / comparisons written), `solve_rate` (task reward)."""
    from astro_env.countdown import CountdownTask

    task = CountdownTask()
    totals: dict[str, int] = {}
    n_solved = 0
    for problem, text in zip(problems, texts):
        for key, value in audit_completion(problem, text).items():
            totals[key] = totals.get(key, 0) + value
        n_solved += task.reward(problem, text) == 1.0
    n = max(1, len(problems))

    def ratio(a: str, b: str) -> float:
        return totals.get(a, 0) / totals[b] if totals.get(b) else 0.0

    return {
        "legal_step_rate": ratio("n_legal", "n_steps"),
        "legal_completion_rate": totals.get("all_legal", 0) / n,
        "arithmetic_accuracy": ratio("n_arithmetic_correct", "n_arithmetic"),
        "target_copy_rate": ratio("n_compared_true", "n_compared"),
        "solve_rate": n_solved / n,
    }


def generate_texts(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 64, temperature: float = 0.0,
                   seed: int = 0, batch_size: int = 64) -> list[str]:
    """One completion per prompt (greedy when `temperature == 0`), left-padded batches, special tokens dropped."""
    import torch

    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    model.eval()
    texts: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[start:start + batch_size]), return_tensors="pt", padding=True)
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0 else {"do_sample": False}
            with torch.no_grad():
                gen = model.generate(
                    **enc, **sampling, max_new_tokens=max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                )
            texts += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = old_side
    return texts


def sample_rates(model, tokenizer, problems, max_new_tokens: int = 64, seed: int = 0, temperature: float = 0.0) -> dict[str, float]:
    """`competence_rates` of one completion per problem (greedy by default)."""
    from astro_env.countdown import CountdownTask

    task = CountdownTask()
    texts = generate_texts(model, tokenizer, [task.format_prompt(p) for p in problems], max_new_tokens, temperature, seed)
    return competence_rates(problems, texts)


def pretrain(config: PretrainConfig) -> Path:
    """Directory `config.out` holding the pre-trained base model and its tokenizer (Auto*-loadable).

    Also writes `pretrain_config.json` and `pretrain_summary.json` (final loss, tokens/s,
    format and solve rates of the model and of random legal play on held-out problems).
    """
    import json
    import math
    import random
    import time
    from dataclasses import asdict

    import torch

    from astro_env.countdown import CountdownTask, generate_problems
    from training.data import pack_examples, tokenize_example
    from training.sft import cosine_lr, lm_loss

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    cd_config = config.countdown
    problems = generate_problems(config.n_problems, config.seed, cd_config)
    target_range = (cd_config.min_target, cd_config.max_target)

    def corpus(n_texts: int, seed: int) -> list[tuple[str, str]]:
        return grammar_corpus(problems, n_texts, seed, config.hindsight_ratio, config.compare, target_range)

    tokenizer_texts = [p + c for p, c in corpus(2000, config.seed)]
    added: list[str] = [str(n) for n in range(config.number_tokens)]
    if config.phrase_tokens:
        from search.verbalize import phrase_fragments

        added += phrase_fragments()
    tokenizer = build_tokenizer(
        tokenizer_texts,
        vocab_size=config.vocab_size,
        kind=config.tokenizer_kind,
        split_digits=config.split_digits,
        added_tokens=added,
    )
    model = build_model(tokenizer, config.model, seed=config.seed)
    n_params = sum(p.numel() for p in model.parameters())

    # packed: enough walks for n_steps x batch x seq_len tokens, with a 10% margin;
    # unpacked: one fresh walk for each of the n_steps x batch rows
    def enough(n_walks: int, n_tokens: int) -> bool:
        if config.packing:
            return n_tokens >= 1.1 * config.n_steps * config.batch_size * config.seq_len
        return n_walks >= config.n_steps * config.batch_size

    examples, n_tokens, chunk = [], 0, 0
    while not enough(len(examples), n_tokens):
        texts = corpus(1000, config.seed * 7919 + 1 + chunk)
        chunk += 1
        for prompt, completion in texts:
            ex = tokenize_example(tokenizer, prompt, completion)
            examples.append(ex)
            n_tokens += len(ex.input_ids)
    order = random.Random(config.seed).sample(range(len(examples)), len(examples))
    if config.packing:
        input_ids, labels = pack_examples(examples, order, config.seq_len, config.loss_on)  # [n_blocks, seq_len]

        def batch_at(step: int):
            rows = torch.arange(step * config.batch_size, (step + 1) * config.batch_size) % input_ids.shape[0]
            return input_ids[rows], labels[rows]
    else:
        from training.data import collate

        def batch_at(step: int):
            idx = [order[(step * config.batch_size + k) % len(order)] for k in range(config.batch_size)]
            batch = collate([examples[i] for i in idx], tokenizer.pad_token_id, config.loss_on)
            return batch["input_ids"], batch["labels"]  # right padding: causal attention needs no mask

    from training.optim import make_adamw

    optimizer = make_adamw(model.parameters(), config.lr, 0.0, (0.9, 0.95))
    warmup = int(config.warmup_ratio * config.n_steps)
    model.train()
    loss_acc = torch.zeros(())
    n_trained = 0  # token positions fed (padding included)
    t0 = time.perf_counter()
    losses: list[float] = []  # mean loss over each sixth of the run
    curve_every, n_acc = max(1, config.n_steps // 6), 0
    log_every, n_log, log_acc = max(1, min(100, config.n_steps // 20)), 0, torch.zeros(())  # progress lines
    for step in range(config.n_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config.n_steps, warmup, config.lr)
        batch, batch_labels = batch_at(step)
        n_trained += batch.numel()
        loss_sum, n_scored = lm_loss(model(input_ids=batch, use_cache=False).logits, batch_labels)
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
    seconds = time.perf_counter() - t0
    if not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"pre-training diverged (losses {losses}); lower --lr.")

    summary: dict = {
        "n_params": n_params,
        "vocab_size": len(tokenizer),
        "n_walks": len(examples),
        "loss_curve": losses,
        "train_seconds": seconds,
        "tokens_per_s": n_trained / seconds,
    }
    if config.n_eval:
        held_out = generate_problems(config.n_eval, config.seed + 1_000_003, cd_config)
        max_new = 24 * cd_config.n_numbers + 24
        summary.update({f"model_{k}": v for k, v in sample_rates(model, tokenizer, held_out, max_new, seed=config.seed).items()})
        rng = random.Random(config.seed)
        task = CountdownTask()
        summary["random_legal_solve_rate"] = sum(
            task.reward(p, random_legal_completion(p, rng)) for p in held_out
        ) / len(held_out)

    model.config.use_cache = True
    out = save_policy(model, tokenizer, config.out)
    (out / "pretrain_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")
    (out / "pretrain_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return out
