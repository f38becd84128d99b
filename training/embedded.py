"""The embedded policy: a small Llama-family model and a tokenizer, both built locally.

No weights can be downloaded, so the default policy is made here: `build_tokenizer` trains
a small BPE (or a character vocabulary) with `tokenizers`, `build_model` instantiates a
random-init `LlamaForCausalLM`, and `save_policy` writes both with `save_pretrained`, so
`AutoModelForCausalLM` / `AutoTokenizer` (and every backend in `agents/`) load the
directory like any hub checkpoint.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

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


@dataclass(frozen=True)
class PretrainConfig:
    """The embedded base model: tokenizer + Llama + a short pre-training on the Countdown step grammar.

    The corpus is random *legal* step sequences (every step applies, the last one boxes the
    remaining expression) on generated Countdown problems, so the base model learns to write
    well-formed steps but not to aim at the target: it solves about as often as random legal
    play, as an instruct model relates to ASTRO. Defaults run in about two minutes on one CPU
    thread; they teach the shape of steps (~95% of samples), while legal arithmetic on the
    prompt's numbers needs a much longer run (`n_steps`).
    """

    out: str
    """Output directory (model + tokenizer via save_pretrained, pretrain_config.json, pretrain_summary.json)."""
    model: ModelConfig = ModelConfig()
    """Shape of the Llama."""
    tokenizer_kind: Literal["bpe", "char"] = "bpe"
    """Small BPE trained on the synthetic corpus, or one token per character."""
    vocab_size: int = 384
    """BPE vocabulary size (ignored for "char")."""
    split_digits: bool = True
    """One token per digit in the BPE (arithmetic is much easier to learn)."""
    phrase_tokens: bool = True
    """Give each fixed reflection/backtrack phrase of the phrase bank one token (a reflection then costs
    one token instead of ~100 characters, which keeps ASTRO traces affordable for a small model)."""
    n_problems: int = 2000
    """Countdown problems the random walks are drawn on (`generate_problems(n, seed)`)."""
    n_numbers: int = 3
    """Numbers per Countdown problem."""
    n_steps: int = 800
    """Optimizer steps."""
    batch_size: int = 8
    """Packed blocks per step."""
    seq_len: int = 128
    """Tokens per packed block."""
    lr: float = 5e-3
    """Peak AdamW learning rate (linear warmup, cosine decay)."""
    warmup_ratio: float = 0.05
    """Fraction of the steps spent in warmup."""
    seed: int = 0
    """Seeds problems, walks, initialisation and data order."""
    n_eval: int = 64
    """Held-out problems sampled once (temperature 1) after training to report format and solve rates (0: skip)."""
    threads: int | None = 1
    """torch threads (None: leave torch's default)."""

    def __post_init__(self) -> None:
        for name in ("n_problems", "n_numbers", "n_steps", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1.")
        if self.n_numbers < 2:
            raise ValueError(f"n_numbers={self.n_numbers}: Countdown needs >= 2 numbers.")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0.")
        if self.n_eval < 0:
            raise ValueError(f"n_eval={self.n_eval} must be >= 0 (0 skips the evaluation).")


def random_legal_completion(problem, rng) -> str:
    """A completion of random legal steps to the boxed end, steps joined by a blank line."""
    from astro_env.countdown import initial_pool, legal_transitions

    pool, steps = initial_pool(problem), []
    while pool:
        step, pool = rng.choice(legal_transitions(pool))
        steps.append(step)
    return "\n\n".join(steps)


def grammar_corpus(problems, n_texts: int, seed: int) -> list[tuple[str, str]]:
    """`n_texts` (prompt, completion) pairs: a random problem of `problems` and a random legal completion."""
    import random

    from astro_env.countdown import CountdownTask

    rng = random.Random(seed)
    task = CountdownTask()
    out = []
    for _ in range(n_texts):
        problem = problems[rng.randrange(len(problems))]
        out.append((task.format_prompt(problem), random_legal_completion(problem, rng)))
    return out


_STEP_SHAPE = re.compile(r"^[0-9()+\-*/]+=[0-9]+(/[0-9]+)?(; left: [0-9()+\-*/ ]+)?$")
_BOXED_SHAPE = re.compile(r"^\\boxed\{[0-9()+\-*/]+\}$")


def sample_rates(model, tokenizer, problems, max_new_tokens: int = 64, seed: int = 0) -> dict[str, float]:
    """`{"format_rate", "legal_rate", "solve_rate"}` of one temperature-1 sample per problem.

    Format: every step has the grammar's shape (`EXPR=VALUE`, then `\\boxed{EXPR}` last).
    Legal: besides, every step applies to the pool (right numbers, right arithmetic;
    `pool_from_text`). Solved: the Countdown task's reward is 1.
    """
    import torch

    from astro_env.countdown import CountdownTask, pool_from_text

    task = CountdownTask()
    prompts = [task.format_prompt(p) for p in problems]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True)
    tokenizer.padding_side = old_side
    torch.manual_seed(seed)
    model.eval()
    with torch.no_grad():
        gen = model.generate(
            **enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        )
    texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    n_format = n_legal = n_solved = 0
    for problem, text in zip(problems, texts):
        steps = [s for s in text.split("\n\n") if s.strip()]
        shaped = (
            bool(steps) and bool(_BOXED_SHAPE.match(steps[-1])) and all(_STEP_SHAPE.match(s) for s in steps[:-1])
        )
        n_format += shaped
        n_legal += shaped and pool_from_text(problem, steps) is not None
        n_solved += task.reward(problem, text) == 1.0
    n = len(problems)
    return {"format_rate": n_format / n, "legal_rate": n_legal / n, "solve_rate": n_solved / n}


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

    from astro_env.countdown import CountdownConfig, CountdownTask, generate_problems
    from training.data import pack_examples, tokenize_example
    from training.sft import cosine_lr, lm_loss

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    cd_config = CountdownConfig(n_numbers=config.n_numbers)
    problems = generate_problems(config.n_problems, config.seed, cd_config)

    tokenizer_texts = [p + c for p, c in grammar_corpus(problems, 2000, config.seed)]
    added: list[str] = []
    if config.phrase_tokens:
        from search.verbalize import phrase_fragments

        added = phrase_fragments()
    tokenizer = build_tokenizer(
        tokenizer_texts,
        vocab_size=config.vocab_size,
        kind=config.tokenizer_kind,
        split_digits=config.split_digits,
        added_tokens=added,
    )
    model = build_model(tokenizer, config.model, seed=config.seed)
    n_params = sum(p.numel() for p in model.parameters())

    # enough walks for n_steps x batch x seq_len tokens, with a 10% margin
    needed = config.n_steps * config.batch_size * config.seq_len
    examples, n_tokens, chunk = [], 0, 0
    while n_tokens < 1.1 * needed:
        texts = grammar_corpus(problems, 1000, config.seed * 7919 + 1 + chunk)
        chunk += 1
        for prompt, completion in texts:
            ex = tokenize_example(tokenizer, prompt, completion)
            examples.append(ex)
            n_tokens += len(ex.input_ids)
    order = random.Random(config.seed).sample(range(len(examples)), len(examples))
    input_ids, _ = pack_examples(examples, order, config.seq_len, "all")  # [n_blocks, seq_len]

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.0, foreach=True)
    warmup = int(config.warmup_ratio * config.n_steps)
    model.train()
    loss_acc = torch.zeros(())
    t0 = time.perf_counter()
    losses: list[float] = []  # mean loss over each sixth of the run
    curve_every, n_acc = max(1, config.n_steps // 6), 0
    for step in range(config.n_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config.n_steps, warmup, config.lr)
        rows = torch.arange(step * config.batch_size, (step + 1) * config.batch_size) % input_ids.shape[0]
        batch = input_ids[rows]
        loss_sum, n_scored = lm_loss(model(input_ids=batch, use_cache=False).logits, batch)
        loss = loss_sum / n_scored
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_acc += loss.detach()
        n_acc += 1
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
        "tokens_per_s": config.n_steps * config.batch_size * config.seq_len / seconds,
    }
    if config.n_eval:
        held_out = generate_problems(config.n_eval, config.seed + 1_000_003, cd_config)
        summary.update({f"model_{k}": v for k, v in sample_rates(model, tokenizer, held_out, seed=config.seed).items()})
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


def main(argv: list[str] | None = None) -> int:
    """`astro pretrain --out DIR`: build and pre-train the embedded base model; prints a JSON summary."""
    import json

    import tyro

    config = tyro.cli(PretrainConfig, args=argv, description="Build and pre-train the embedded base model.")
    out = pretrain(config)
    summary = json.loads((out / "pretrain_summary.json").read_text(encoding="utf-8"))
    print(json.dumps({"out": str(out), **summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
